"""Where image data lives: a small interface and its backends."""
