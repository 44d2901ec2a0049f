"""The API cell's instance index: applying versioned updates from the cells below.

An update is applied only if its version is newer than the row's, so
reordered or duplicated messages never move an instance backwards. Sync
updates (a periodic re-send of a cell's truth) also apply at an equal
version, which clears a task state the index set for an action whose message
was lost.

The index's ``updated_at`` is when the API cell learned of a newer version,
not when the cell made it: an update that arrives late must still show up
for clients polling with ``changes-since``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells import instances, states
from cells.db.api_models import InstanceIndex
from cells.db.engine import Database, rowcount
from cells.db.types import utcnow

LOG = logging.getLogger(__name__)


# A sync re-send at an equal version clears a task state the index set only
# once that state is this old: the action's own message may still be on its way.
SYNC_GRACE = dt.timedelta(seconds=60)


def _apply_one(session: Session, update: dict[str, Any], now: dt.datetime) -> int:
    values = instances.to_index_values(update)
    values.pop("updated_at", None)
    version = update["version"]
    # Only the cell that owns the instance may move it.
    owned = InstanceIndex.cell_path == update.get("cell_path")
    equal_clears = sa.and_(InstanceIndex.version == version,
                           InstanceIndex.task_state.is_not(None))
    if update.get("refused"):  # the cell says the pending action will not happen
        newer = sa.or_(InstanceIndex.version < version, equal_clears)
    elif update.get("sync"):
        newer = sa.or_(InstanceIndex.version < version,
                       sa.and_(equal_clears, InstanceIndex.updated_at < now - SYNC_GRACE))
    else:
        newer = InstanceIndex.version < version
    # updated_at first: MariaDB evaluates SET left to right, so the CASE must see
    # the row's old values. It moves whenever what the API shows changes.
    stamp = sa.case((sa.or_(InstanceIndex.version < version, InstanceIndex.task_state.is_not(None)),
                     now), else_=InstanceIndex.updated_at)
    result = session.execute(
        sa.update(InstanceIndex)
        .where(InstanceIndex.uuid == update["uuid"], owned, newer)
        .ordered_values((InstanceIndex.updated_at, stamp),
                        *((getattr(InstanceIndex, k), v) for k, v in values.items())))
    return rowcount(result)


def apply_updates(db: Database, updates: list[dict[str, Any]]) -> int:
    """Apply updates (in uuid order, one transaction); returns how many rows changed.

    If the batch fails, each update is retried in a transaction of its own so
    one bad update cannot hold back the others.
    """
    live = sorted((u for u in updates if not u.get("missing")), key=lambda u: u["uuid"])

    def work(batch: list[dict[str, Any]]) -> Callable[[Session], int]:
        def run(session: Session) -> int:
            now = utcnow()
            return sum(_apply_one(session, update, now) for update in batch)
        return run

    changed = 0
    if live:
        try:
            changed = db.transaction(work(live))
        except Exception:  # noqa: BLE001 - fall back to one at a time, below
            LOG.exception("applying %d updates failed; applying them one by one", len(live))
            for update in live:
                try:
                    changed += db.transaction(work([update]))
                except Exception:  # noqa: BLE001 - the next sync re-sends it
                    LOG.exception("update of instance %s dropped", update.get("uuid"))
    missing = [u for u in updates if u.get("missing")]
    if missing:
        mark_lost(db, missing)
    return changed


def mark_lost(db: Database, missing: list[dict[str, Any]]) -> None:
    """Resolve index rows a cell does not know (its build was lost on the way) to ERROR."""
    fault = instances.fault("The build request was lost before it reached its cell.")

    def work(session: Session) -> None:
        for item in missing:
            session.execute(
                sa.update(InstanceIndex)
                .where(InstanceIndex.uuid == item["uuid"], InstanceIndex.version == 0,
                       InstanceIndex.cell_path == item.get("cell_path"),
                       InstanceIndex.deleted.is_(False))
                .values(vm_state=states.ERROR, task_state=None, fault=fault,
                        updated_at=utcnow()))

    db.transaction(work)
    LOG.warning("instances lost before reaching their cell: %s",
                ", ".join(item["uuid"] for item in missing))


def expire_unscheduled(db: Database, timeout: float) -> int:
    """Resolve rows that never got a cell within ``timeout`` seconds to ERROR; returns the count."""
    cutoff = utcnow() - dt.timedelta(seconds=timeout)
    fault = instances.fault("Scheduling did not complete in time.")

    def work(session: Session) -> int:
        return rowcount(session.execute(
            sa.update(InstanceIndex)
            .where(InstanceIndex.cell_path.is_(None), InstanceIndex.deleted.is_(False),
                   InstanceIndex.vm_state == states.BUILDING,
                   InstanceIndex.created_at < cutoff)
            .values(vm_state=states.ERROR, task_state=None, fault=fault, updated_at=utcnow())))

    return db.transaction(work)


def stale_by_cell(db: Database, older_than: float, limit: int) -> dict[str, list[str]]:
    """Return uuids, by cell, of rows stuck in a task state longer than ``older_than`` seconds."""
    cutoff = utcnow() - dt.timedelta(seconds=older_than)
    with db.session() as session:
        rows = session.execute(
            sa.select(InstanceIndex.uuid, InstanceIndex.cell_path)
            .where(InstanceIndex.task_state.is_not(None), InstanceIndex.cell_path.is_not(None),
                   InstanceIndex.deleted.is_(False), InstanceIndex.updated_at < cutoff)
            .limit(limit)
        ).all()
    by_cell: dict[str, list[str]] = {}
    for uuid, cell_path in rows:
        if cell_path:
            by_cell.setdefault(cell_path, []).append(uuid)
    return by_cell
