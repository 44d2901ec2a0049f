"""The embedded and deployed cloud launcher, the CLI and its commands."""
