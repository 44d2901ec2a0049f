"""Compute cell: choose a host for each build request, claim it, hand the build to its agent.

Per request: filter and weigh the hosts in memory, reserve the best one in
memory, then claim it in the database (INSERT + conditional UPDATE + COMMIT).
A lost race re-reads that host and tries the next best, a bounded number of
times. No host left: the instance row is written in error with a fault and
its state sent up to the index.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError

from cells.config import CellConfig
from cells.context import RequestContext
from cells.db.engine import Database
from cells.db.types import utcnow
from scheduler import claims, filters, weighers
from scheduler.host_state import HostState, HostStateCache, Usage

LOG = logging.getLogger(__name__)

# Hosts tried per request before giving up with "no valid host".
MAX_ATTEMPTS = 4


class ComputeClient(Protocol):
    def build_and_run_instance(self, ctxt: RequestContext, host: str, instance: dict[str, Any],
                               image: dict[str, Any]) -> None: ...


class CellsClient(Protocol):
    def updates_up(self, ctxt: RequestContext, updates: list[dict[str, Any]]) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """What became of one build request: ``claimed``, ``no_host`` or ``duplicate``."""

    uuid: str
    result: str
    host: str | None = None


def _now() -> dt.datetime:
    # DATETIME columns keep whole seconds on MariaDB: send up exactly what is stored.
    return utcnow().replace(microsecond=0)


class HostScheduler:
    """Places build requests on the hosts of one compute cell."""

    def __init__(self, conf: CellConfig, db: Database, compute: ComputeClient, cells: CellsClient,
                 cache: HostStateCache | None = None, tiebreak: weighers.TieBreaker | None = None,
                 clock: Callable[[], dt.datetime] = _now) -> None:
        self.conf = conf
        self.db = db
        self.compute = compute
        self.cells = cells
        self.cache = cache or HostStateCache(db.transaction)
        self.filters = filters.default_filters(conf)
        self.weigher = weighers.get_weigher(conf.weigher)
        self.tiebreak = tiebreak or weighers.TieBreaker()
        self.clock = clock
        # Outcomes and lost races since start, for logs and benchmarks.
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()

    def _count(self, what: str) -> None:
        with self._stats_lock:
            self.stats[what] += 1

    def refresh(self) -> None:
        """Re-read every host of the cell (the periodic task)."""
        count = self.cache.refresh()
        LOG.debug("host states refreshed: %d hosts", count)

    def build_instances(self, ctxt: RequestContext, requests: Sequence[Mapping[str, Any]]) -> list[Outcome]:
        """Claim a host for each request and cast its build; returns what became of each."""
        self.cache.ensure_loaded()
        now = self.clock()
        outcomes: list[Outcome] = []
        updates: list[dict[str, Any]] = []
        for request in requests:
            try:
                values = claims.instance_values(request, self.conf, now)
            except (KeyError, TypeError, ValueError) as exc:
                LOG.error("dropping a malformed build request (%s: %s)", type(exc).__name__, exc)
                continue
            try:
                outcome, values = self._place(values, now)
            except Exception:  # noqa: BLE001 - one failed request must not lose the others
                LOG.exception("building instance %s failed", values["uuid"])
                continue
            outcomes.append(outcome)
            self._count(outcome.result)
            if outcome.result == "claimed":
                assert outcome.host is not None
                self._cast_build(ctxt, outcome.host, values, dict(request.get("image") or {}))
            elif outcome.result == "no_host":
                updates.append(claims.to_update(values, self.conf.path))
            else:
                self._recast_if_awaiting(ctxt, values["uuid"], dict(request.get("image") or {}))
        if updates:
            self.cells.updates_up(ctxt, updates)
        return outcomes

    def _recast_if_awaiting(self, ctxt: RequestContext, uuid: str, image: dict[str, Any]) -> None:
        """The row exists already: a redelivered request, or our own claim whose COMMIT was
        retried after the connection dropped although it had gone through. If the row still
        waits for its agent, cast the build again (an agent builds idempotently), so the
        instance is not left to its deadline."""
        row = self.db.transaction(lambda session: claims.load(session, uuid))
        if claims.awaits_build(row):
            assert row is not None
            LOG.info("instance %s exists already and awaits its build: casting it again", uuid)
            self._cast_build(ctxt, row["host"], row, image)
        else:
            LOG.info("instance %s exists already: ignoring the redelivered request", uuid)

    def _cast_build(self, ctxt: RequestContext, host: str, values: Mapping[str, Any],
                    image: dict[str, Any]) -> None:
        try:
            self.compute.build_and_run_instance(ctxt, host, claims.primitive(values), image)
        except Exception:  # noqa: BLE001 - the instance's deadline resolves it; go on with the others
            LOG.exception("casting the build of instance %s to host %s failed", values["uuid"], host)

    def _choose(self, spec: filters.RequestSpec) -> Callable[[Iterable[HostState]], HostState | None]:
        def choose(hosts: Iterable[HostState]) -> HostState | None:
            return weighers.best(filters.filter_hosts(hosts, spec, self.filters), self.weigher,
                                 self.tiebreak)
        return choose

    def _place(self, values: dict[str, Any], now: dt.datetime) -> tuple[Outcome, dict[str, Any]]:
        uuid = values["uuid"]
        usage = Usage(values["vcpus"], values["memory_mb"], values["root_gb"])
        choose = self._choose(filters.RequestSpec(usage, now))
        tried: set[int] = set()
        for _ in range(MAX_ATTEMPTS):
            host = self.cache.reserve(choose, usage, tried)
            # The snapshot may predate a host's registration: look again before failing.
            if host is None and not tried and self.cache.refresh_if_older_than(1.0):
                host = self.cache.reserve(choose, usage, tried)
            if host is None:
                break
            tried.add(host.id)
            claimed = {**values, "host": host.host}
            try:
                self.db.transaction(partial(claims.claim, host_id=host.id, usage=usage, values=claimed))
            except claims.HostFull:
                self.cache.release(host, usage)
                self._count("lost_race")
                LOG.debug("lost the race for host %s: re-reading it", host.host)
                self.cache.refresh_host(host.id)
                continue
            except IntegrityError as exc:
                self.cache.release(host, usage)
                if claims.is_duplicate(exc):
                    return Outcome(uuid, "duplicate"), claimed
                raise
            except BaseException:
                self.cache.release(host, usage)
                raise
            self.cache.commit(host, usage)
            return Outcome(uuid, "claimed", host.host), claimed
        failed = claims.error_values(values, now)
        try:
            self.db.transaction(lambda s: claims.insert(s, failed))
        except IntegrityError as exc:
            if claims.is_duplicate(exc):
                return Outcome(uuid, "duplicate"), failed
            raise
        LOG.warning("no valid host for instance %s (%d vcpus, %d MB, %d GB)", uuid,
                    usage.vcpus, usage.memory_mb, usage.disk_gb)
        return Outcome(uuid, "no_host"), failed
