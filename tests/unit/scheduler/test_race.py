"""Two schedulers, each with its own engine, racing to claim a few small hosts at once.

Neither may over-commit a host, every request ends with a host or a
no-valid-host error, and usage counters equal the sums over instance rows.
"""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

import pytest

from cells import states
from scheduler.claims import NO_VALID_HOST
from tests.unit.scheduler import race_worker
from tests.unit.scheduler.helpers import (
    add_host,
    assert_usage_matches_instances,
    build_request,
    flavor,
    instances,
)

HOSTS = 4
# Per host: 2 cores * 4.0 = 8 vCPUs, 2048 MB, 20 GB -> four 1-vCPU/512 MB/5 GB instances.
PER_HOST = 4
REQUESTS_PER_SCHEDULER = 15


def prepare(db) -> list[list[dict[str, Any]]]:
    for i in range(HOSTS):
        add_host(db, f"h{i}", vcpus=2, memory_mb=2048, local_gb=20)
    return [[build_request(flavor(1, 512, 5)) for _ in range(REQUESTS_PER_SCHEDULER)] for _ in range(2)]


def check(db, batches, results) -> None:
    wanted = {r["instance"]["uuid"] for batch in batches for r in batch}
    assert {uuid for uuid, _, _ in results} == wanted  # every request was handled once
    assert len(results) == len(wanted)
    rows = instances(db)
    assert set(rows) == wanted
    claimed = [row for row in rows.values() if row.host is not None]
    failed = [row for row in rows.values() if row.host is None]
    for row in claimed:
        assert (row.vm_state, row.task_state) == (states.BUILDING, states.SPAWNING)
    for row in failed:
        assert row.vm_state == states.ERROR and row.fault["message"] == NO_VALID_HOST
    # With no more hosts than attempts per request, a request fails only if the cell is full.
    assert len(claimed) == HOSTS * PER_HOST
    assert_usage_matches_instances(db)
    by_result = {uuid: (result, host) for uuid, result, host in results}
    for row in rows.values():
        assert by_result[row.uuid] == (("claimed", row.host) if row.host else ("no_host", None))


def test_race_between_two_processes_on_mariadb(mariadb_db):
    db = mariadb_db("compute")
    batches = prepare(db)
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    out = ctx.Queue()
    procs = [ctx.Process(target=race_worker.race_in_process, args=(db.url, batch, 3, seed, start, out))
             for seed, batch in enumerate(batches)]
    for p in procs:
        p.start()
    try:
        reports = [out.get(timeout=180) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    errors = [detail for status, detail in reports if status != "ok"]
    assert not errors
    results = [r for _, (rs, _) in reports for r in rs]
    check(db, batches, results)
    # Each scheduler only knows its own claims: the overflow must have lost races.
    assert sum(lost for _, (_, lost) in reports) > 0


@pytest.mark.parametrize("backend", ["sqlite", "mariadb"])
def test_race_between_two_engines_in_threads(backend, sqlite_db, request):
    if backend == "sqlite":
        db = sqlite_db("compute")
    else:
        db = request.getfixturevalue("mariadb_db")("compute")
    batches = prepare(db)
    start = threading.Barrier(2)
    results: list[Any] = []
    lost: list[int] = []
    errors: list[BaseException] = []

    def run(batch, seed):
        try:
            handled, lost_races = race_worker.race(db.url, batch, 3, seed, start)
            results.extend(handled)
            lost.append(lost_races)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(b, s)) for s, b in enumerate(batches)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert not errors
    check(db, batches, results)
    assert sum(lost) > 0
