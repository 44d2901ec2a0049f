"""Databases: one engine per cell URL, transactions with deadlock retry, models, migrations."""
