"""Image pre-staging runs as the API reads and writes them (``image_prestages``).

The API inserts a run and may mark it failed when its cell cannot be told;
everything else about a run comes from its cell's progress reports
(``cells.prestages``).
"""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from cells import prestages
from cells.db.api_models import ImagePrestage
from cells.db.engine import Database
from cells.db.types import utcnow

PRESTAGES = cast(sa.Table, ImagePrestage.__table__)
C = PRESTAGES.c


def insert(db: Database, row: dict[str, Any]) -> None:
    """Insert a new run."""
    def run(session: Session) -> None:
        session.execute(sa.insert(PRESTAGES).values(**row))
    db.transaction(run)


def get(db: Database, prestage_id: str) -> RowMapping | None:
    """Return the run ``prestage_id``, or None."""
    with db.engine.connect() as conn:
        row = conn.execute(sa.select(PRESTAGES).where(C.id == prestage_id)).first()
    return row._mapping if row is not None else None


def fail_unsent(db: Database, prestage_id: str, error: str) -> None:
    """The run never reached its cell: end it in error, unless a report moved it meanwhile."""
    now = utcnow().replace(microsecond=0)

    def run(session: Session) -> None:
        session.execute(sa.update(PRESTAGES)
                        .where(C.id == prestage_id, C.status == prestages.QUEUED, C.version == 0)
                        .values(status=prestages.ERROR, error=error, finished_at=now, updated_at=now))
    db.transaction(run)


def list_page(db: Database, limit: int, marker: str | None) -> list[RowMapping] | None:
    """Return one page, newest first, after the run ``marker``; None if there is no such marker."""
    query = sa.select(PRESTAGES).order_by(C.created_at.desc(), C.id.desc()).limit(limit)
    with db.engine.connect() as conn:
        if marker is not None:
            seen = conn.execute(sa.select(C.created_at, C.id).where(C.id == marker)).first()
            if seen is None:
                return None
            query = query.where(sa.or_(C.created_at < seen.created_at,
                                       sa.and_(C.created_at == seen.created_at, C.id < seen.id)))
        return [row._mapping for row in conn.execute(query)]
