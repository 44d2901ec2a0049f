"""Capacity reports of the compute cells, as the API cell stores them (``child_capacity``)."""

from __future__ import annotations

from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping

from cells.db.api_models import ChildCapacity
from cells.db.engine import Database

CAPACITY = cast(sa.Table, ChildCapacity.__table__)


def all_reports(db: Database) -> list[RowMapping]:
    """Return every compute cell's latest report, ordered by cell path (one SELECT)."""
    with db.engine.connect() as conn:
        return [row._mapping for row in
                conn.execute(sa.select(CAPACITY).order_by(CAPACITY.c.cell_path))]
