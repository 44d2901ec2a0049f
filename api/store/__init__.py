"""Reads and writes of the API cell's tables, one module per noun (SQLAlchemy Core, no ORM overhead)."""
