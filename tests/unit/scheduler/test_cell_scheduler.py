"""The API cell's scheduler: choosing a compute cell, the index CAS and routing."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest

from cells import rpc, states
from cells.context import RequestContext
from cells.db.types import utcnow
from cells.rpcapi import CellsAPI
from scheduler.cell_scheduler import CellScheduler
from scheduler.claims import NO_VALID_HOST
from tests.unit.scheduler.helpers import (
    Recorder,
    StatementCounter,
    add_capacity,
    add_index_row,
    build_request,
    cell_conf,
    flavor,
    index_rows,
)

CTX = RequestContext.admin("top")
A, B = "top!cell1", "top!site!cell2"


@pytest.fixture
def top(sqlite_db):
    db = sqlite_db("api")
    router = Recorder()
    return CellScheduler(cell_conf(db.url, cell_type="api"), db, router), db, router


def requests_for(db, n, fl=None):
    reqs = [build_request(fl) for _ in range(n)]
    for r in reqs:
        add_index_row(db, r)
    return reqs


def routed(router):
    """cell path -> uuids routed there, checking the envelope's topic and method."""
    out: dict[str, list[str]] = {}
    for args, _ in router.of("route"):
        path, topic, method, payload = args
        assert (topic, method) == ("scheduler", "build_instances")
        out.setdefault(path, []).extend(r["instance"]["uuid"] for r in payload["requests"])
    return out


def test_chooses_the_cell_with_most_free_ram(top):
    sched, db, router = top
    add_capacity(db, A, ram_mb_free=8192)
    add_capacity(db, B, ram_mb_free=16384)
    [req] = requests_for(db, 1)
    assert sched.schedule_instances(CTX, [req]) == {req["instance"]["uuid"]: B}
    assert routed(router) == {B: [req["instance"]["uuid"]]}
    assert index_rows(db)[req["instance"]["uuid"]].cell_path == B
    assert index_rows(db)[req["instance"]["uuid"]].version == 0


def test_avoids_a_cell_whose_largest_host_is_too_small(top):
    sched, db, router = top
    add_capacity(db, A, ram_mb_free=100000, largest_free_ram_mb=2048)  # fragmented
    add_capacity(db, B, ram_mb_free=8192)
    reqs = requests_for(db, 2, flavor(ram=4096))
    sched.schedule_instances(CTX, reqs)
    assert set(routed(router)) == {B}


@pytest.mark.parametrize("full", [
    {"vcpus_free": 0},
    {"largest_free_vcpus": 1},
    {"disk_gb_free": 4},
    {"hosts_up": 0},
    {"reported_at": utcnow() - dt.timedelta(minutes=10)},  # the cell stopped reporting
])
def test_avoids_a_full_or_silent_cell(top, full):
    sched, db, router = top
    add_capacity(db, A, ram_mb_free=100000, **full)
    add_capacity(db, B, ram_mb_free=4096)
    sched.schedule_instances(CTX, requests_for(db, 1, flavor(vcpus=2, disk=5)))
    assert set(routed(router)) == {B}


def test_a_burst_between_reports_spreads_over_cells(top):
    sched, db, router = top
    add_capacity(db, A, ram_mb_free=40960)
    add_capacity(db, B, ram_mb_free=40960)
    reqs = requests_for(db, 10, flavor(ram=2048))
    for r in reqs:  # one message each, as separate API requests would arrive
        sched.schedule_instances(CTX, [r])
    counts = Counter({path: len(uuids) for path, uuids in routed(router).items()})
    assert counts == {A: 5, B: 5}


def test_placements_stop_counting_once_a_newer_report_arrives(top):
    sched, db, _ = top
    add_capacity(db, A, ram_mb_free=10240, reported_at=utcnow() - dt.timedelta(seconds=5))
    sched.schedule_instances(CTX, requests_for(db, 2, flavor(ram=2048)))
    [cell] = sched.cache.cells()
    assert cell.free().memory_mb == 10240 - 4096
    sched.refresh()  # same report: our placements still count
    assert sched.cache.cells()[0].free().memory_mb == 10240 - 4096
    add_capacity(db, A, ram_mb_free=6144, reported_at=utcnow() + dt.timedelta(seconds=1))
    sched.refresh()  # the new report includes them
    assert sched.cache.cells()[0].free().memory_mb == 6144


def test_a_report_of_the_same_second_does_not_forget_placements(top):
    # The placement may reach the cell after the report was taken in that same second.
    sched, db, _ = top
    now = utcnow().replace(microsecond=0)
    add_capacity(db, A, ram_mb_free=10240, reported_at=now - dt.timedelta(seconds=5))
    sched.schedule_instances(CTX, requests_for(db, 1, flavor(ram=2048)))
    [cell] = sched.cache.cells()
    placed_at = cell.placed[0].at
    add_capacity(db, A, ram_mb_free=10240, reported_at=placed_at + dt.timedelta(microseconds=900_000))
    sched.refresh()
    assert sched.cache.cells()[0].free().memory_mb == 10240 - 2048


def test_cell_fills_up_between_reports(top):
    sched, db, router = top
    add_capacity(db, A, ram_mb_free=4096, vcpus_free=64)
    reqs = requests_for(db, 3, flavor(ram=2048))
    result = sched.schedule_instances(CTX, reqs)
    assert list(result.values()) == [A, A, None]
    third = index_rows(db)[reqs[2]["instance"]["uuid"]]
    assert (third.vm_state, third.task_state, third.cell_path) == (states.ERROR, None, None)
    assert third.fault["code"] == 500 and third.fault["message"] == NO_VALID_HOST
    assert dt.datetime.fromisoformat(third.fault["created"])
    assert len(routed(router)[A]) == 2


def test_no_cell_at_all_sets_the_index_row_in_error(top):
    sched, db, router = top
    [req] = requests_for(db, 1)
    assert sched.schedule_instances(CTX, [req]) == {req["instance"]["uuid"]: None}
    assert index_rows(db)[req["instance"]["uuid"]].vm_state == states.ERROR
    assert router.calls == []


def test_deleted_instance_is_dropped_and_its_placement_forgotten(top):
    sched, db, router = top
    add_capacity(db, A, ram_mb_free=8192)
    req = build_request(flavor(ram=2048))
    add_index_row(db, req, deleted=True)
    live = requests_for(db, 1, flavor(ram=2048))
    result = sched.schedule_instances(CTX, [req, *live])
    assert req["instance"]["uuid"] not in result
    assert routed(router) == {A: [live[0]["instance"]["uuid"]]}
    assert index_rows(db)[req["instance"]["uuid"]].cell_path is None
    assert sched.cache.cells()[0].free().memory_mb == 8192 - 2048


def test_instance_already_placed_is_not_routed_twice(top):
    sched, db, router = top
    add_capacity(db, A)
    [req] = requests_for(db, 1)
    sched.schedule_instances(CTX, [req])
    sched.schedule_instances(CTX, [req])  # redelivered
    assert routed(router) == {A: [req["instance"]["uuid"]]}


def test_index_row_missing_is_dropped(top):
    sched, db, router = top
    add_capacity(db, A)
    assert sched.schedule_instances(CTX, [build_request()]) == {}
    assert router.calls == []


def test_one_route_per_cell_and_one_update_per_request(top):
    sched, db, router = top
    add_capacity(db, A, ram_mb_free=40960)
    add_capacity(db, B, ram_mb_free=40960)
    reqs = requests_for(db, 6, flavor(ram=1024))
    sched.refresh()
    counter = StatementCounter(db)
    sched.schedule_instances(CTX, reqs)
    assert counter.statements == ["UPDATE"] * 6
    assert len(router.of("route")) == 2
    assert sorted(len(u) for u in routed(router).values()) == [3, 3]


def test_malformed_request_is_dropped(top):
    sched, db, router = top
    add_capacity(db, A)
    good = requests_for(db, 1)
    assert list(sched.schedule_instances(CTX, [{"instance": {}}, *good])) == [good[0]["instance"]["uuid"]]


class CellsEndpoint:
    target = rpc.target("1.0")

    def __init__(self) -> None:
        self.envelopes: list[dict] = []
        self.received = threading.Event()

    def route(self, ctxt, envelopes):
        self.envelopes.extend(envelopes)
        self.received.set()


def test_routes_through_the_cells_daemon(sqlite_db, fake_broker):
    db = sqlite_db("api")
    add_capacity(db, B)
    endpoint = CellsEndpoint()
    server = rpc.get_server(fake_broker, "cells", "cells-top", [endpoint])
    server.start()
    try:
        sched = CellScheduler(cell_conf(db.url, fake_broker, cell_type="api"), db, CellsAPI(fake_broker))
        reqs = requests_for(db, 2)
        sched.schedule_instances(CTX, reqs)
        assert endpoint.received.wait(10)
    finally:
        server.stop()
        server.wait()
    [env] = endpoint.envelopes
    assert (env["target_path"], env["topic"], env["method"]) == (B, "scheduler", "build_instances")
    assert env["args"]["requests"] == reqs
