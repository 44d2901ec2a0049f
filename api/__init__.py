"""Compute API (OpenStack Compute v2.1 wire format) served by cloud-api."""
