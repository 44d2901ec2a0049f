"""The instance index as the API reads and writes it.

Writes are compare-and-swap on the state the caller saw and never touch
``version``: versions belong to the compute cells, whose updates the index
applies only when newer, so an API write that bumped them would make the
index refuse the cell's next real update.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from cells import states
from cells.db.api_models import InstanceIndex
from cells.db.engine import Database
from cells.db.types import utcnow

INSTANCES = cast(sa.Table, InstanceIndex.__table__)
C = INSTANCES.c

SUMMARY_COLUMNS = (C.uuid, C.name, C.created_at)
DETAIL_COLUMNS = tuple(INSTANCES.columns)


def insert(db: Database, rows: Sequence[dict[str, Any]]) -> None:
    """Insert new index rows in one statement and one transaction."""
    def run(session: Session) -> None:
        session.execute(sa.insert(INSTANCES), list(rows))
    db.transaction(run)


def forget_unscheduled(db: Database, uuids: Sequence[str]) -> None:
    """Remove rows of a boot that never reached the scheduler (the cast failed)."""
    def run(session: Session) -> None:
        session.execute(sa.delete(INSTANCES).where(C.uuid.in_(list(uuids)), C.cell_path.is_(None)))
    db.transaction(run)


def _rowcount(result: Any) -> int:
    return int(result.rowcount)


def get(db: Database, uuid: str) -> RowMapping | None:
    """Return the index row of ``uuid`` (deleted or not), or None."""
    with db.engine.connect() as conn:
        row = conn.execute(sa.select(*DETAIL_COLUMNS).where(C.uuid == uuid)).first()
    return row._mapping if row is not None else None


def _task_is(value: str | None) -> sa.ColumnElement[bool]:
    return C.task_state.is_(None) if value is None else C.task_state == value


def set_task_state(db: Database, seen: Mapping[Any, Any], task_state: str | None) -> bool:
    """Set the task state if the row is still as ``seen``; False if someone moved it first."""
    def run(session: Session) -> int:
        return _rowcount(session.execute(
            sa.update(INSTANCES)
            .where(C.uuid == seen["uuid"], C.version == seen["version"], C.deleted == sa.false(),
                   C.vm_state == seen["vm_state"], _task_is(seen["task_state"]))
            .values(task_state=task_state, updated_at=utcnow())
        ))
    return db.transaction(run) == 1


def delete_unscheduled(db: Database, uuid: str) -> bool:
    """Mark deleted an instance no cell holds yet; False if it was placed (or deleted) meanwhile.

    The cell scheduler's own CAS (``cell_path IS NULL AND deleted = 0``) then
    finds nothing and drops the build.
    """
    now = utcnow()
    def run(session: Session) -> int:
        return _rowcount(session.execute(
            sa.update(INSTANCES)
            .where(C.uuid == uuid, C.cell_path.is_(None), C.deleted == sa.false())
            .values(deleted=True, deleted_at=now, terminated_at=now, updated_at=now,
                    vm_state=states.DELETED, task_state=None)
        ))
    return db.transaction(run) == 1


# --- listing -----------------------------------------------------------------------

@dataclass
class ListQuery:
    """What a GET /servers asks for, already authorized and parsed."""

    project_id: str | None  # None: every project (admin with all_tenants)
    limit: int
    marker: str | None = None
    deleted: bool | None = False  # None: deleted or not
    changes_since: dt.datetime | None = None
    name: str | None = None
    statuses: list[str] = field(default_factory=list)
    image: str | None = None
    flavor: str | None = None
    host: str | None = None
    detail: bool = False


def _status_condition(c: Any, statuses: Sequence[str]) -> sa.ColumnElement[bool]:
    """Rows whose API status is one of ``statuses`` (exact, by vm_state and task_state pairs)."""
    wanted = {s.upper() for s in statuses}
    clauses = []
    for vm_state in states.VM_STATES:
        tasks = [t for t in states.TASK_STATES if states.api_status(vm_state, t) in wanted]
        if not tasks:
            continue
        named = [t for t in tasks if t is not None]
        task_clause = sa.or_(c.task_state.in_(named), c.task_state.is_(None)) if None in tasks \
            else c.task_state.in_(named)
        if len(tasks) == len(states.TASK_STATES):
            clauses.append(c.vm_state == vm_state)
        else:
            clauses.append(sa.and_(c.vm_state == vm_state, task_clause))
    return sa.or_(*clauses) if clauses else sa.false()


def _filters(c: Any, query: ListQuery) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if query.project_id is not None:
        where.append(c.project_id == query.project_id)
    if query.deleted is not None:
        where.append(c.deleted == query.deleted)
    if query.changes_since is not None:
        where.append(c.updated_at >= query.changes_since)
    if query.name:
        where.append(c.name.regexp_match(query.name))
    if query.statuses:
        where.append(_status_condition(c, query.statuses))
    if query.image:
        where.append(c.image_ref == query.image)
    if query.flavor:
        where.append(c.flavor["id"].as_string() == query.flavor)
    if query.host:
        where.append(c.host == query.host)
    return where


def list_page(db: Database, query: ListQuery, table: sa.Table = INSTANCES) -> list[RowMapping]:
    """Return one page, newest first; one SELECT riding (project_id, deleted, created_at, uuid).

    The marker's position is a scalar subquery, so a page after a marker is
    still one statement; a marker the caller cannot see yields an empty page
    (check ``marker_exists`` then). ``table``: the API cell's index, or a compute
    cell's own instance table (same columns), which its cell-local API lists.
    """
    c = table.c
    where = _filters(c, query)
    if query.marker:
        position = sa.select(c.created_at).where(c.uuid == query.marker)
        if query.project_id is not None:
            position = position.where(c.project_id == query.project_id)
        created = position.scalar_subquery()
        where.append(sa.or_(c.created_at < created,
                            sa.and_(c.created_at == created, c.uuid < query.marker)))
    columns = tuple(table.columns) if query.detail else (c.uuid, c.name, c.created_at)
    stmt = (sa.select(*columns).where(*where)
            .order_by(c.created_at.desc(), c.uuid.desc()).limit(query.limit))
    with db.engine.connect() as conn:
        return [row._mapping for row in conn.execute(stmt)]


def marker_exists(db: Database, marker: str, project_id: str | None,
                  table: sa.Table = INSTANCES) -> bool:
    """True if the caller may page from ``marker``."""
    c = table.c
    stmt = sa.select(c.uuid).where(c.uuid == marker)
    if project_id is not None:
        stmt = stmt.where(c.project_id == project_id)
    with db.engine.connect() as conn:
        return conn.execute(stmt).first() is not None
