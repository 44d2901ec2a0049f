"""HTTP handlers of the identity API, one module per noun."""
