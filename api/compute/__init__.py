"""Server operations behind the handlers: boot, listing, actions and deletes."""
