"""Flavors in the API cell's database: load them all, create one, delete one."""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cells.db.api_models import Flavor
from cells.db.engine import Database
from cells.db.types import utcnow
from cells.exception import Conflict, NotFound

FLAVORS = cast(sa.Table, Flavor.__table__)


def load_all(db: Database) -> list[dict[str, Any]]:
    """Return every flavor as a plain dict of its columns (one SELECT)."""
    with db.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(sa.select(FLAVORS))]


def create(db: Database, values: dict[str, Any]) -> dict[str, Any]:
    """Insert a flavor; returns its row as a dict. Raises Conflict if its name or id is taken."""
    row = {**values, "created_at": utcnow()}
    try:
        def insert(session: Session) -> Any:
            return cast(Any, session.execute(sa.insert(FLAVORS).values(**row))).inserted_primary_key
        key = db.transaction(insert)
    except IntegrityError as exc:
        raise _conflict(db, values) from exc
    return {**row, "id": key[0]}


def _conflict(db: Database, values: dict[str, Any]) -> Conflict:
    with db.engine.connect() as conn:
        by_id = conn.execute(sa.select(FLAVORS.c.id).where(FLAVORS.c.flavorid == values["flavorid"]))
        if by_id.first() is not None:
            return Conflict(f"Flavor with ID {values['flavorid']} already exists.")
    return Conflict(f"Flavor with name {values['name']} already exists.")


def delete(db: Database, flavorid: str) -> None:
    """Delete a flavor by its API id; raises NotFound if there is none."""
    def remove(session: Session) -> int:
        result: Any = session.execute(sa.delete(FLAVORS).where(FLAVORS.c.flavorid == flavorid))
        return int(result.rowcount)
    if not db.transaction(remove):
        raise NotFound(f"Flavor {flavorid} could not be found.")
