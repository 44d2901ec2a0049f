"""Cell scheduling (API cell) and host scheduling (compute cells)."""
