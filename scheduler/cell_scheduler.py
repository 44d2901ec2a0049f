"""API cell: choose a compute cell for each build request and route the request there.

The compute cells' latest capacity reports (``child_capacity``) are kept in
memory and re-read with one SELECT every ``scheduler.refresh_interval``. What
this scheduler placed since a cell's report is subtracted from it, so a burst
of requests between two reports spreads over the cells instead of piling onto
the one that looked emptiest. The index row then gets its cell by
compare-and-swap (``cell_path IS NULL AND deleted = 0``): an instance deleted
meanwhile is dropped.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from cells import states
from cells.config import CellConfig
from cells.context import RequestContext
from cells.db.api_models import ChildCapacity, InstanceIndex
from cells.db.engine import Database
from cells.db.types import utcnow
from scheduler import claims
from scheduler.host_state import Usage

LOG = logging.getLogger(__name__)

_INDEX = cast(sa.Table, InstanceIndex.__table__)
_CAPACITY = cast(sa.Table, ChildCapacity.__table__)


class RouteClient(Protocol):
    def route(self, ctxt: RequestContext, target_path: str, topic: str, method: str,
              args: dict[str, Any], version: str = "1.0", server: str | None = None) -> None: ...


@dataclass(eq=False)
class Placement:
    """One request this scheduler sent to a cell, counted until the cell's next report."""

    at: dt.datetime
    usage: Usage


@dataclass
class CellState:
    """A compute cell's last report, less what was placed there since."""

    path: str
    vcpus_free: int
    ram_mb_free: int
    disk_gb_free: int
    largest_free_ram_mb: int
    largest_free_vcpus: int
    hosts_up: int
    reported_at: dt.datetime
    placed: list[Placement] = field(default_factory=list)

    def free(self) -> Usage:
        """Return what is free once this scheduler's placements since the report are taken off."""
        vcpus, ram, disk = self.vcpus_free, self.ram_mb_free, self.disk_gb_free
        for p in self.placed:
            vcpus -= p.usage.vcpus
            ram -= p.usage.memory_mb
            disk -= p.usage.disk_gb
        return Usage(vcpus, ram, disk)

    def fits(self, usage: Usage) -> bool:
        """True if some host of the cell can still take ``usage`` as far as the report tells."""
        free = self.free()
        # The largest host's room can only have shrunk by what we placed since.
        return (self.hosts_up > 0
                and min(self.largest_free_ram_mb, free.memory_mb) >= usage.memory_mb
                and min(self.largest_free_vcpus, free.vcpus) >= usage.vcpus
                and free.disk_gb >= usage.disk_gb)


def cell_from_row(row: Any) -> CellState:
    return CellState(row.cell_path, row.vcpus_free, row.ram_mb_free, row.disk_gb_free,
                     row.largest_free_ram_mb, row.largest_free_vcpus, row.hosts_up, row.reported_at)


class CapacityCache:
    """Thread-safe view of the compute cells' capacity, with this scheduler's placements applied."""

    def __init__(self, transaction: Callable[[Callable[[Session], Any]], Any], max_age: float,
                 rng: random.Random | None = None) -> None:
        self._transaction = transaction
        self._max_age = dt.timedelta(seconds=max_age)
        self._lock = threading.Lock()
        self._cells: dict[str, CellState] = {}
        self._random = rng or random.Random()
        self.loaded = False
        self._refreshed_at = 0.0

    def refresh(self) -> int:
        """Re-read every cell's report (one SELECT); returns the number of cells."""
        query = sa.select(*(_CAPACITY.c[name] for name in (
            "cell_path", "vcpus_free", "ram_mb_free", "disk_gb_free", "largest_free_ram_mb",
            "largest_free_vcpus", "hosts_up", "reported_at")))
        rows = self._transaction(lambda s: s.execute(query).all())
        with self._lock:
            fresh: dict[str, CellState] = {}
            for row in rows:
                cell = cell_from_row(row)
                old = self._cells.get(cell.path)
                if old is not None:
                    # Placements newer than the report are not in it yet. Times are whole
                    # seconds, and one made in the report's second may have reached the cell
                    # after the report: it keeps counting until a report of a later second.
                    since = cell.reported_at.replace(microsecond=0)
                    cell.placed = [p for p in old.placed if p.at >= since]
                fresh[cell.path] = cell
            self._cells = fresh
            self.loaded = True
            self._refreshed_at = time.monotonic()
            return len(fresh)

    def ensure_loaded(self) -> None:
        if not self.loaded:
            self.refresh()

    def refresh_if_older_than(self, seconds: float) -> bool:
        """Re-read the reports unless that was done in the last ``seconds``; True if it was."""
        if time.monotonic() - self._refreshed_at < seconds:
            return False
        self.refresh()
        return True

    def cells(self) -> list[CellState]:
        with self._lock:
            return list(self._cells.values())

    def reserve(self, usage: Usage, now: dt.datetime) -> tuple[str, Placement] | None:
        """Pick the cell with the most free RAM that fits ``usage`` and count it there.

        Returns (cell path, placement) or None if no cell fits. Cells whose
        report is older than the maximum age are left out: they may be gone.
        """
        with self._lock:
            best: CellState | None = None
            best_key: tuple[int, float] = (0, 0.0)
            for cell in self._cells.values():
                if now - cell.reported_at > self._max_age or not cell.fits(usage):
                    continue
                key = (cell.free().memory_mb, self._random.random())
                if best is None or key > best_key:
                    best, best_key = cell, key
            if best is None:
                return None
            placement = Placement(now, usage)
            best.placed.append(placement)
            return best.path, placement

    def release(self, path: str, placement: Placement) -> None:
        """Forget a placement that did not happen (the instance was deleted meanwhile)."""
        with self._lock:
            cell = self._cells.get(path)
            if cell is not None and placement in cell.placed:
                cell.placed.remove(placement)


def _cas_place(uuid: str, path: str) -> sa.Update:
    return (_INDEX.update()
            .where(_INDEX.c.uuid == uuid, _INDEX.c.cell_path.is_(None), _INDEX.c.deleted == sa.false())
            .values(cell_path=path))


def _cas_fail(uuid: str, now: dt.datetime) -> sa.Update:
    return (_INDEX.update()
            .where(_INDEX.c.uuid == uuid, _INDEX.c.cell_path.is_(None), _INDEX.c.deleted == sa.false())
            .values(vm_state=states.ERROR, task_state=None, fault=claims.no_valid_host_fault(now),
                    updated_at=now))


@dataclass
class _Decision:
    request: Mapping[str, Any]
    uuid: str
    path: str | None
    placement: Placement | None


class CellScheduler:
    """Places build requests in compute cells from their capacity reports."""

    def __init__(self, conf: CellConfig, db: Database, cells: RouteClient,
                 cache: CapacityCache | None = None,
                 clock: Callable[[], dt.datetime] = lambda: utcnow().replace(microsecond=0)) -> None:
        self.conf = conf
        self.db = db
        self.cells = cells
        # A cell silent for several report periods is probably unreachable.
        max_age = max(3 * conf.capacity_interval, conf.service_down_time)
        self.cache = cache or CapacityCache(db.transaction, max_age)
        self.clock = clock

    def refresh(self) -> None:
        """Re-read the compute cells' capacity reports (the periodic task)."""
        count = self.cache.refresh()
        LOG.debug("capacity refreshed: %d cells", count)

    def schedule_instances(self, ctxt: RequestContext,
                           requests: Sequence[Mapping[str, Any]]) -> dict[str, str | None]:
        """Place each request in a cell and route it; returns uuid -> cell path (None: no cell).

        Requests whose index row was deleted meanwhile are dropped and left out
        of the result.
        """
        self.cache.ensure_loaded()
        now = self.clock()
        decisions: list[_Decision] = []
        for request in requests:
            try:
                uuid = request["instance"]["uuid"]
                usage = Usage.of_flavor(request["instance"]["flavor"])
            except (KeyError, TypeError, ValueError) as exc:
                LOG.error("dropping a malformed build request (%s: %s)", type(exc).__name__, exc)
                continue
            chosen = self.cache.reserve(usage, now)
            # The snapshot may predate a cell's first report: look again before failing.
            if chosen is None and self.cache.refresh_if_older_than(1.0):
                chosen = self.cache.reserve(usage, now)
            path, placement = chosen if chosen else (None, None)
            decisions.append(_Decision(request, uuid, path, placement))
        if not decisions:
            return {}
        try:
            applied = self.db.transaction(lambda s: self._write(s, decisions, now))
        except Exception:
            for d in decisions:
                if d.path is not None and d.placement is not None:
                    self.cache.release(d.path, d.placement)
            raise
        result: dict[str, str | None] = {}
        by_cell: dict[str, list[Mapping[str, Any]]] = {}
        for decision, ok in zip(decisions, applied, strict=True):
            if not ok:
                LOG.info("instance %s was deleted before it was scheduled: dropped", decision.uuid)
                if decision.path is not None and decision.placement is not None:
                    self.cache.release(decision.path, decision.placement)
                continue
            result[decision.uuid] = decision.path
            if decision.path is None:
                LOG.warning("no cell can take instance %s", decision.uuid)
            else:
                by_cell.setdefault(decision.path, []).append(decision.request)
        for path, batch in by_cell.items():
            self.cells.route(ctxt, path, "scheduler", "build_instances", {"requests": batch})
        return result

    @staticmethod
    def _write(session: Session, decisions: Sequence[_Decision], now: dt.datetime) -> list[bool]:
        # One UPDATE per request and a single COMMIT for the whole batch.
        applied = []
        for d in decisions:
            statement = _cas_place(d.uuid, d.path) if d.path else _cas_fail(d.uuid, now)
            result = cast(CursorResult[Any], session.execute(statement))
            applied.append(result.rowcount == 1)
        return applied
