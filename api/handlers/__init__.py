"""HTTP handlers of the Compute API, one module per noun."""
