"""Image pre-staging as the API cell records it: progress reports applied by version, lost runs expired.

A compute cell's scheduler pushes an image to its hosts and reports how far it
got, every few seconds and at the end, as routed messages to the API cell's
cells daemon. Those may arrive out of order or twice: a report is applied only
if its ``version`` is newer than the row's, and only for the cell the row
names. A run whose reports stop (its scheduler died, a message was lost) is
resolved to ``error`` once it has been silent for the transition timeout.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, cast

import sqlalchemy as sa

from cells.db.api_models import ImagePrestage
from cells.db.engine import Database, rowcount
from cells.db.types import utcnow

LOG = logging.getLogger(__name__)

QUEUED, RUNNING, DONE, ERROR = "queued", "running", "done", "error"
STATUSES = (QUEUED, RUNNING, DONE, ERROR)
FINAL = (DONE, ERROR)
# Longest failure reason kept per host: the row holds one per failed host.
MAX_REASON = 255

_TABLE = cast(sa.Table, ImagePrestage.__table__)
_COUNTS = ("hosts_total", "hosts_done", "hosts_failed", "hosts_cached", "from_endpoint",
           "from_peers", "depth")
# The settings the run used; a report without them (an older scheduler) leaves the row's alone.
_SETTINGS = ("endpoint_copies", "peer_copies")


def reason(text: str) -> str:
    """Return a failure reason short enough to keep."""
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."


def _time(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value)).replace(tzinfo=None)


def progress_values(progress: dict[str, Any]) -> dict[str, Any]:
    """Return the columns a progress report sets; raises KeyError, TypeError or ValueError if malformed."""
    status = progress["status"]
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    values: dict[str, Any] = {"status": status, "version": int(progress["version"])}
    for key in _COUNTS:
        values[key] = int(progress.get(key) or 0)
    for key in _SETTINGS:
        if progress.get(key) is not None:
            values[key] = int(progress[key])
    failures = progress.get("failures") or {}
    if not isinstance(failures, dict):
        raise TypeError("failures is not a mapping")
    values["failures"] = {str(host): reason(str(why)) for host, why in failures.items()}
    values["error"] = reason(str(progress["error"])) if progress.get("error") else None
    values["started_at"] = _time(progress.get("started_at"))
    values["finished_at"] = _time(progress.get("finished_at"))
    return values


def apply_progress(db: Database, progress: dict[str, Any]) -> bool:
    """Store a report from the cell in ``progress['cell_path']`` if newer; True if it was applied."""
    try:
        values = progress_values(progress)
    except (KeyError, TypeError, ValueError) as exc:
        LOG.error("dropping a malformed pre-staging report (%s: %s)", type(exc).__name__, exc)
        return False
    values["updated_at"] = utcnow().replace(microsecond=0)
    statement = (sa.update(_TABLE)
                 .where(_TABLE.c.id == str(progress.get("id")),
                        _TABLE.c.cell_path == progress.get("cell_path"),
                        _TABLE.c.version < values["version"])
                 .values(**values))
    applied = db.transaction(lambda session: rowcount(session.execute(statement))) == 1
    if not applied:
        LOG.debug("pre-staging report %s v%s not applied (older, or not that cell's)",
                  progress.get("id"), values["version"])
    return applied


def expire_stale(db: Database, timeout: float) -> int:
    """Resolve to ``error`` every unfinished run without news for ``timeout`` seconds; returns how many."""
    now = utcnow().replace(microsecond=0)
    cutoff = now - dt.timedelta(seconds=timeout)
    statement = (sa.update(_TABLE)
                 .where(_TABLE.c.status.in_((QUEUED, RUNNING)), _TABLE.c.updated_at < cutoff)
                 .values(status=ERROR, finished_at=now, updated_at=now,
                         error=f"no progress from the cell for {timeout:.0f} s: its scheduler "
                               "stopped or the run was lost"))
    expired = db.transaction(lambda session: rowcount(session.execute(statement)))
    if expired:
        LOG.warning("expired %d image pre-staging run(s) without progress", expired)
    return expired
