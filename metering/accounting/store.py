"""The API cell's copy of every compute cell's hourly rollups, and how far each cell was read.

``store_rollups`` upserts one answer of a cell by (cell, instance, hour), keeping
the row of the higher revision, and advances that cell's cursor to the highest
revision received, in one transaction: a replayed or reordered answer changes
nothing, and a restart resumes from the stored cursor.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cells.db.api_models import UsageCursor, UsageHourly
from cells.db.engine import Database, rowcount
from cells.db.types import utcnow

LOG = logging.getLogger(__name__)

USAGE = cast(sa.Table, UsageHourly.__table__)
CURSORS = cast(sa.Table, UsageCursor.__table__)

# Rollup keys copied as they are, with the type each is stored as.
_TEXT = ("project_id", "user_id", "flavor_id", "flavor_name", "host")
_INT = ("vcpus", "ram_mb", "disk_gb", "net_in_bytes", "net_out_bytes", "samples")
_FLOAT = ("hour_seconds", "hs06_per_core", "seconds", "vcpu_hours", "hs06_hours", "ram_gb_hours",
          "disk_gb_hours")
# Unknown until the collector has read the instance's metadata (a later revision brings it).
_OPTIONAL_TEXT = frozenset({"project_id", "user_id", "flavor_id", "flavor_name", "host"})
# Two answers inserting the same new row at once: the loser re-reads and tries again.
_INSERT_RACES = 3


@dataclass(frozen=True)
class Stored:
    """What one answer did: rows written (new or newer), rows ignored, the cell's cursor after it."""

    written: int
    ignored: int
    cursor: int


def parse_hour(text: str) -> dt.datetime:
    """Return an ISO-8601 UTC bucket start ("2026-11-21T10:00:00Z") as naive UTC; raises ValueError."""
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def epoch_of(hour: dt.datetime) -> float:
    """Seconds since the epoch of a naive UTC time."""
    return hour.replace(tzinfo=dt.UTC).timestamp()


def to_row(cell_path: str, rollup: Mapping[str, Any]) -> dict[str, Any]:
    """Return the usage_hourly row of one rollup; raises KeyError, TypeError or ValueError if malformed."""
    hour = parse_hour(str(rollup["hour"]))
    row: dict[str, Any] = {"cell_path": cell_path, "instance_id": str(rollup["instance_id"]),
                           "hour": hour, "hour_epoch": epoch_of(hour),
                           "revision": int(rollup["revision"])}
    for key in _TEXT:
        value = rollup.get(key) if key in _OPTIONAL_TEXT else rollup[key]
        row[key] = None if value is None else str(value)
    for key in _INT:
        row[key] = int(rollup.get(key) or 0)
    for key in _FLOAT:
        row[key] = float(rollup.get(key) or 0.0)
    if not row["instance_id"] or row["hour_seconds"] <= 0:
        raise ValueError("an instance_id and a positive hour_seconds are required")
    return row


def _latest(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, dt.datetime], dict[str, Any]]:
    """The row of the highest revision per (instance, hour) within one answer."""
    found: dict[tuple[str, dt.datetime], dict[str, Any]] = {}
    for row in rows:
        key = (row["instance_id"], row["hour"])
        if key not in found or found[key]["revision"] < row["revision"]:
            found[key] = row
    return found


def _upsert(session: Session, cell_path: str, rows: dict[tuple[str, dt.datetime], dict[str, Any]],
            revision: int) -> tuple[int, int]:
    written = ignored = 0
    if rows:
        ids = sorted({k[0] for k in rows})
        hours = sorted({k[1] for k in rows})
        # One SELECT for the whole answer (a superset: every id against every hour).
        seen = {(r.instance_id, r.hour): r.revision for r in session.execute(
            sa.select(USAGE.c.instance_id, USAGE.c.hour, USAGE.c.revision).where(
                USAGE.c.cell_path == cell_path, USAGE.c.instance_id.in_(ids),
                USAGE.c.hour.in_(hours)))}
        inserts = [row for key, row in rows.items() if key not in seen]
        updates = [row for key, row in rows.items() if key in seen and seen[key] < row["revision"]]
        if inserts:
            session.execute(sa.insert(USAGE), inserts)
        for row in updates:
            # Guarded by the revision, so a newer row written meanwhile is never replaced.
            written += rowcount(session.execute(
                sa.update(USAGE).where(USAGE.c.cell_path == cell_path,
                                       USAGE.c.instance_id == row["instance_id"],
                                       USAGE.c.hour == row["hour"],
                                       USAGE.c.revision < row["revision"]).values(**row)))
        written += len(inserts)
        ignored = len(rows) - written
    if revision >= 0:
        _advance(session, cell_path, revision)
    return written, ignored


def _advance(session: Session, cell_path: str, revision: int) -> None:
    changed = rowcount(session.execute(
        sa.update(CURSORS).where(CURSORS.c.cell_path == cell_path, CURSORS.c.revision < revision)
        .values(revision=revision, updated_at=utcnow())))
    if not changed and session.get(UsageCursor, cell_path) is None:
        session.execute(sa.insert(CURSORS).values(cell_path=cell_path, revision=revision,
                                                  updated_at=utcnow()))


def store_rollups(db: Database, cell_path: str, rollups: list[dict[str, Any]]) -> Stored:
    """Upsert one answer of ``cell_path`` and advance its cursor; returns what was done.

    A malformed rollup is logged and skipped (its revision, when readable, still
    moves the cursor: asking again would bring back the same malformed row).
    Raises the database's error when it stays unavailable after its retries.
    """
    rows: list[dict[str, Any]] = []
    revision = -1
    malformed = 0
    for rollup in rollups:
        try:
            revision = max(revision, int(rollup.get("revision", -1)))
        except (TypeError, ValueError, AttributeError):
            pass
        try:
            rows.append(to_row(cell_path, rollup))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            malformed += 1
            LOG.error("malformed rollup from %s skipped: %s", cell_path, exc)
    latest = _latest(rows)
    for attempt in range(_INSERT_RACES):
        try:
            written, ignored = db.transaction(lambda s: _upsert(s, cell_path, latest, revision))
            break
        except IntegrityError:
            if attempt == _INSERT_RACES - 1:
                raise
            LOG.info("rows of %s inserted meanwhile; storing the answer again", cell_path)
    return Stored(written, ignored + malformed + len(rows) - len(latest), cursor(db, cell_path))


def cursor(db: Database, cell_path: str) -> int:
    """The highest revision stored for ``cell_path`` (0: nothing yet)."""
    with db.engine.connect() as conn:
        found = conn.execute(sa.select(CURSORS.c.revision).where(
            CURSORS.c.cell_path == cell_path)).scalar_one_or_none()
    return int(found or 0)
