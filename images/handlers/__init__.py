"""HTTP handlers of the Image v2 API, one module per noun."""
