"""One racing scheduler: its own engine, several threads, started together with its rivals.

Run in a separate process by the race test (spawned, so nothing of the
parent's engine or locks is inherited), or in a thread for SQLite.
"""

from __future__ import annotations

import threading
from typing import Any

from cells.context import RequestContext
from cells.db.engine import Database
from scheduler import weighers
from scheduler.host_scheduler import HostScheduler
from tests.unit.scheduler.helpers import Recorder, cell_conf

Result = tuple[list[tuple[str, str, str | None]], int]


def race(url: str, requests: list[dict[str, Any]], threads: int, seed: int, start: Any) -> Result:
    """Build ``requests`` over ``threads`` threads once ``start`` (a barrier) lets all go.

    Returns (uuid, result, host) per request handled, and the number of races lost.
    """
    db = Database(url)
    try:
        sched = HostScheduler(cell_conf(url), db, Recorder(), Recorder(),
                              tiebreak=weighers.TieBreaker(seed))
        sched.refresh()
        ctxt = RequestContext.admin("top!cell1")
        results: list[tuple[str, str, str | None]] = []
        lock = threading.Lock()
        chunks = [requests[i::threads] for i in range(threads)]

        def run(chunk: list[dict[str, Any]]) -> None:
            for request in chunk:
                outcomes = sched.build_instances(ctxt, [request])
                with lock:
                    results.extend((o.uuid, o.result, o.host) for o in outcomes)

        start.wait(timeout=60)
        workers = [threading.Thread(target=run, args=(c,)) for c in chunks]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=120)
        return results, sched.stats["lost_race"]
    finally:
        db.dispose()


def race_in_process(url: str, requests: list[dict[str, Any]], threads: int, seed: int, start: Any,
                    out: Any) -> None:
    """Entry point of a racing process: puts its results (or the error) on ``out``."""
    try:
        out.put(("ok", race(url, requests, threads, seed, start)))
    except BaseException as exc:  # noqa: BLE001 - report any failure to the parent
        out.put(("error", repr(exc)))
