"""Images: the Image v2 registry and store, and per-cell read-through caches."""
