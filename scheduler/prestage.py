"""Compute cell: push an image to every host's cache ahead of a boot storm, as a fan-out tree.

The API cell routes ``prestage_image`` here. A run reads the cell's hosts
(one SELECT), reports the hosts that are down as failed, and drives the plan
of ``scheduler.fanout`` with one RPC *call* per copy to the target host's
agent (``compute.prestage_image``, bounded by ``copy_timeout``): the first
copies come from the cell's image endpoint, every host done serves the next
ones. A request may carry ``settings`` (``endpoint_copies``, ``peer_copies``)
that override the cell's configuration for that run alone. Progress goes up
to the API cell every ``progress_interval`` seconds and at the end, versioned
by time so a late or repeated report never moves the record back.
"""

from __future__ import annotations

import concurrent.futures as futures
import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from cells import prestages, rpc, tree
from cells.config import CellConfig, PrestageSettings
from cells.context import RequestContext
from cells.db.types import utcnow
from compute_agent.rpcapi import PRESTAGE_CACHED
from scheduler.fanout import Copy, FanOut
from scheduler.host_state import HostState, HostStateCache
from scheduler.rpcapi import PRESTAGE_OVERRIDES

LOG = logging.getLogger(__name__)


class PrestageClient(Protocol):
    def prestage_image(self, ctxt: RequestContext, host: str, image: dict[str, Any],
                       source: dict[str, Any] | None, timeout: float) -> dict[str, Any]: ...


class ProgressClient(Protocol):
    def prestage_progress(self, ctxt: RequestContext, root_path: str,
                          progress: dict[str, Any]) -> None: ...


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def split_hosts(hosts: list[HostState], now: dt.datetime,
                down_after: float) -> tuple[list[str], dict[str, str]]:
    """Return (hosts up, sorted; {host down: why}) by their last heartbeat."""
    up: list[str] = []
    down: dict[str, str] = {}
    limit = dt.timedelta(seconds=down_after)
    for host in sorted(hosts, key=lambda h: h.host):
        if host.last_seen_at is None:
            down[host.host] = "host is down: its agent never reported"
        elif now - host.last_seen_at > limit:
            silent = int((now - host.last_seen_at).total_seconds())
            down[host.host] = f"host is down: no heartbeat for {silent} s"
        else:
            up.append(host.host)
    return up, down


def run_settings(base: PrestageSettings, overrides: Any) -> PrestageSettings:
    """The cell's settings with a request's ``settings`` applied (None or {} keeps them).

    Raises ValueError for anything but a mapping of known keys to integers within bounds.
    """
    if overrides is None:
        return base
    if not isinstance(overrides, Mapping):
        raise ValueError("settings is not a mapping")
    for key, value in overrides.items():
        if key not in PRESTAGE_OVERRIDES:
            raise ValueError(f"unknown setting {key!r}")
        low, high = PRESTAGE_OVERRIDES[key]
        if type(value) is not int or not low <= value <= high:
            raise ValueError(f"{key} must be an integer from {low} to {high}")
    return dataclasses.replace(base, **dict(overrides))


def failure_reason(exc: BaseException, timeout: float) -> str:
    """What to report for a copy whose call raised."""
    if isinstance(exc, rpc.MessagingTimeout):
        return f"no answer from the host's agent in {timeout:.0f} s"
    if isinstance(exc, rpc.RemoteError):
        return f"the host's agent failed: {exc.exc_type}"
    # The type only: a transport's message may name its broker URL, credentials included.
    return f"the host's agent could not be called ({type(exc).__name__})"


class Run:
    """One pre-staging run: the plan, its copies in flight and the reports it sends."""

    def __init__(self, conf: CellConfig, settings: PrestageSettings, compute: PrestageClient,
                 cells: ProgressClient, ctxt: RequestContext, prestage: Mapping[str, Any],
                 clock: Callable[[], float] = time.time) -> None:
        self.conf = conf
        self.settings = settings
        self.compute = compute
        self.cells = cells
        self.ctxt = ctxt
        self.id = str(prestage["id"])
        image = prestage["image"]
        self.image = {k: image.get(k) for k in ("id", "os_hash_algo", "os_hash_value", "size")}
        self.clock = clock
        self.root = tree.split(conf.path)[0]
        self.started_at = utcnow()
        self.finished_at: dt.datetime | None = None
        self.hosts_total = 0
        self.plan = FanOut((), settings.endpoint_copies, settings.peer_copies, settings.max_parallel)
        self.serve_urls: dict[str, str] = {}
        self.error: str | None = None
        self._version = 0

    # --- reports ------------------------------------------------------------

    def progress(self, status: str) -> dict[str, Any]:
        """The report of the run as it stands, with the next version."""
        # Versions are times in ms, strictly increasing: a rerun elsewhere (redelivery) still wins.
        self._version = max(self._version + 1, int(self.clock() * 1000))
        done = self.plan.done
        return {
            "id": self.id, "cell_path": self.conf.path, "version": self._version, "status": status,
            "hosts_total": self.hosts_total, "hosts_done": len(done), "hosts_failed": len(self.plan.failed),
            "hosts_cached": sum(1 for how in done.values() if how == ""),
            "from_endpoint": sum(1 for how in done.values() if how is None),
            "from_peers": sum(1 for how in done.values() if how),
            "depth": self.plan.max_depth, "failures": dict(self.plan.failed), "error": self.error,
            # What the run used: the cell's configuration, or the request's overrides.
            "endpoint_copies": self.settings.endpoint_copies, "peer_copies": self.settings.peer_copies,
            "started_at": _iso(self.started_at), "finished_at": _iso(self.finished_at),
        }

    def send(self, status: str) -> dict[str, Any]:
        report = self.progress(status)
        try:
            self.cells.prestage_progress(self.ctxt, self.root, report)
        except Exception:  # noqa: BLE001 - the next report carries the same and more
            LOG.exception("prestage %s: sending progress failed", self.id)
        return report

    # --- the run ------------------------------------------------------------

    def execute(self, hosts: list[HostState], now: dt.datetime) -> dict[str, Any]:
        """Copy the image to every host up; returns the final report (also sent up)."""
        up, down = split_hosts(hosts, now, self.conf.service_down_time)
        self.hosts_total = len(up) + len(down)
        self.plan = FanOut(up + list(down), self.settings.endpoint_copies, self.settings.peer_copies,
                           self.settings.max_parallel)
        for host, why in down.items():
            self.plan.fail_pending(host, why)
        if not hosts:
            self.error = f"cell {self.conf.path} has no hosts"
        if not self.image.get("os_hash_value") or not isinstance(self.image.get("size"), int):
            self.error = f"image {self.image.get('id')} has no sha512 or size to verify copies against"
            for host in up:
                self.plan.fail_pending(host, self.error)
        LOG.info("prestage %s: image %s to %d hosts of %s (%d down)", self.id, self.image["id"],
                 self.hosts_total, self.conf.path, len(down))
        self.send(prestages.RUNNING)
        if not self.plan.finished:
            self._drive()
        self.finished_at = utcnow()
        report = self.send(prestages.ERROR if self.error else prestages.DONE)
        LOG.info("prestage %s: %d done (%d from peers, %d from the endpoint, %d cached), %d failed, "
                 "depth %d, %.0f s", self.id, report["hosts_done"], report["from_peers"],
                 report["from_endpoint"], report["hosts_cached"], report["hosts_failed"],
                 report["depth"], (self.finished_at - self.started_at).total_seconds())
        return report

    def refuse(self, error: str) -> dict[str, Any]:
        """End the run in ``error`` before any copy; returns the final report (also sent up)."""
        self.error = error
        self.finished_at = utcnow()
        LOG.error("prestage %s: %s", self.id, error)
        return self.send(prestages.ERROR)

    def _source(self, copy: Copy) -> dict[str, Any] | None:
        if copy.source is None:
            return None
        return {"host": copy.source, "url": self.serve_urls[copy.source]}

    def _drive(self) -> None:
        workers = max(1, min(self.settings.max_parallel, self.hosts_total))
        with futures.ThreadPoolExecutor(workers, thread_name_prefix=f"prestage-{self.id[:8]}") as pool:
            flying: dict[futures.Future[dict[str, Any]], str] = {}

            def submit(copies: list[Copy]) -> None:
                for copy in copies:
                    flying[pool.submit(self.compute.prestage_image, self.ctxt, copy.target, self.image,
                                       self._source(copy), self.settings.copy_timeout)] = copy.target

            submit(self.plan.next_copies())
            last_report = time.monotonic()
            while flying:
                ended, _ = futures.wait(flying, timeout=self.settings.progress_interval,
                                        return_when=futures.FIRST_COMPLETED)
                for future in ended:
                    submit(self._ended(flying.pop(future), future))
                if time.monotonic() - last_report >= self.settings.progress_interval:
                    self.send(prestages.RUNNING)
                    last_report = time.monotonic()

    def _ended(self, target: str, future: futures.Future[dict[str, Any]]) -> list[Copy]:
        source = self.plan.running[target]
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - any failure of one host is that host's alone
            return self.plan.finished_copy(target, False,
                                           reason=failure_reason(exc, self.settings.copy_timeout))
        # The agent says why its peer failed when it fell back to the endpoint.
        peer_failed = source is not None and bool(result.get("fallback"))
        if not result.get("ok"):
            return self.plan.finished_copy(target, False, peer_failed=peer_failed,
                                           reason=prestages.reason(str(result.get("error") or "failed")))
        url = result.get("serve_url")
        if url:
            self.serve_urls[target] = str(url)
        return self.plan.finished_copy(target, True, cached=result.get("source") == PRESTAGE_CACHED,
                                       peer_failed=peer_failed, serves=bool(url))


class Prestager:
    """Starts runs in their own threads (one per pre-staging id at a time)."""

    def __init__(self, conf: CellConfig, cache: HostStateCache, compute: PrestageClient,
                 cells: ProgressClient, settings: PrestageSettings | None = None) -> None:
        self.conf = conf
        self.cache = cache
        self.compute = compute
        self.cells = cells
        self.settings = settings or conf.prestage
        self._lock = threading.Lock()
        self._running: set[str] = set()

    def start(self, ctxt: RequestContext, prestage: Mapping[str, Any]) -> bool:
        """Run ``prestage`` ({id, image, settings?}) in a thread; False if that id is running here
        already."""
        prestage_id = str(prestage["id"])
        with self._lock:
            if prestage_id in self._running:
                LOG.info("prestage %s is running already: request ignored", prestage_id)
                return False
            self._running.add(prestage_id)
        threading.Thread(target=self._run_and_forget, args=(ctxt, prestage),
                         name=f"prestage-{prestage_id[:8]}", daemon=True).start()
        return True

    def _run_and_forget(self, ctxt: RequestContext, prestage: Mapping[str, Any]) -> None:
        try:
            self.run(ctxt, prestage)
        except Exception:  # noqa: BLE001 - the API cell expires a run whose reports stop
            LOG.exception("prestage %s failed", prestage.get("id"))
        finally:
            with self._lock:
                self._running.discard(str(prestage["id"]))

    def run(self, ctxt: RequestContext, prestage: Mapping[str, Any]) -> dict[str, Any]:
        """Run ``prestage`` to its end here; returns the final report.

        Settings the run may not have end it in error at once, copying nothing.
        """
        try:
            settings = run_settings(self.settings, prestage.get("settings"))
        except ValueError as exc:
            return Run(self.conf, self.settings, self.compute, self.cells, ctxt, prestage).refuse(
                f"refused: {exc}")
        self.cache.refresh()  # the freshest heartbeats decide who is up
        run = Run(self.conf, settings, self.compute, self.cells, ctxt, prestage)
        return run.execute(self.cache.hosts(), utcnow())
