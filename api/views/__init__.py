"""Builders of response documents in the Compute v2.1 wire format, one module per noun."""
