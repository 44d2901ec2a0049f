"""Gathering rollups at the API cell: which cells are asked when, the answers' endpoint, and a
whole exchange through real cells daemons (top > site > compute) on in-process brokers."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from cells import cmd as cells_cmd
from cells import config, rpc, service
from cells.context import RequestContext
from cells.db import migrate
from cells.db.api_models import ChildCapacity, UsageHourly
from cells.db.engine import DATABASES
from cells.db.types import utcnow
from cells.exception import ConfigError
from cells.rpcapi import CellsAPI
from metering.accounting import service as accounting_service
from metering.accounting import store
from metering.accounting.gather import Gatherer, compute_cells
from metering.accounting.service import AccountingEndpoint


def add_cell(db, path: str) -> None:
    with db.session() as session:
        session.add(ChildCapacity(cell_path=path, capabilities={"hosts": []}, reported_at=utcnow()))


def rollup(revision: int, instance: str | None = None) -> dict[str, Any]:
    return {"instance_id": instance or str(uuid.uuid4()), "hour": "2026-11-21T10:00:00Z",
            "hour_seconds": 3600.0, "project_id": "p1", "user_id": "u1", "flavor_id": "1",
            "flavor_name": "m1.small", "vcpus": 1, "ram_mb": 512, "disk_gb": 1, "host": "h1",
            "hs06_per_core": 10.0, "seconds": 3600.0, "vcpu_hours": 1.0, "hs06_hours": 10.0,
            "ram_gb_hours": 0.5, "disk_gb_hours": 1.0, "net_in_bytes": 0, "net_out_bytes": 0,
            "samples": 12, "revision": revision}


class FakeCollector:
    """A compute cell's collector: rollups of revisions 1..n, answered ``limit`` at a time."""

    def __init__(self, count: int) -> None:
        self.rollups = [rollup(n + 1) for n in range(count)]

    def answer(self, since: int, limit: int) -> tuple[list[dict[str, Any]], bool]:
        newer = [r for r in self.rollups if r["revision"] > since]
        return newer[:limit], len(newer) > limit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def api_conf(tmp_path):
    return config.parse({
        "cell": {"name": "top", "type": "api"},
        "database": {"url": f"sqlite:///{tmp_path}/top.db"}, "broker": {"url": "fake:///unused"},
        "metering": {"gather_interval": 60, "gather_batch": 2}})


@pytest.fixture
def db(api_conf):
    migrate.upgrade(api_conf.database_url, "api")
    return DATABASES.get(api_conf.database_url)


def test_compute_cells_are_those_reporting_capacity_below_the_root(db):
    for path in ("top!site!c1", "top!c2", "elsewhere!c3"):
        add_cell(db, path)
    assert compute_cells(db, "top") == ["top!c2", "top!site!c1"]


def test_round_asks_each_cell_from_its_cursor_then_waits(api_conf, db):
    add_cell(db, "top!site!c1")
    add_cell(db, "top!c2")
    store.store_rollups(db, "top!c2", [rollup(7)])
    sent: list[tuple[str, int]] = []
    clock = Clock()
    gatherer = Gatherer(api_conf, db, send=lambda cell, since: sent.append((cell, since)), clock=clock)
    assert gatherer.round() == ["top!c2", "top!site!c1"]
    assert sent == [("top!c2", 7), ("top!site!c1", 0)]
    clock.now += 10  # well within the interval: nobody is asked again
    assert gatherer.round() == []
    clock.now += 50
    assert gatherer.round() == ["top!c2", "top!site!c1"]


def test_one_unreachable_cell_does_not_stop_the_round(api_conf, db):
    add_cell(db, "top!a")
    add_cell(db, "top!b")
    asked = []

    def send(cell: str, since: int) -> None:
        if cell == "top!a":
            raise rpc.MessagingTimeout("broker down")
        asked.append(cell)

    assert Gatherer(api_conf, db, send=send).round() == ["top!b"]
    assert asked == ["top!b"]


def test_answers_with_more_are_followed_at_once_until_done(api_conf, db):
    """The collector's answer simulated by calling the endpoint: batches of 2 until all 5 are in."""
    add_cell(db, "top!c1")
    collector = FakeCollector(5)
    requests: list[int] = []
    endpoint: AccountingEndpoint

    def send(cell: str, since: int) -> None:
        requests.append(since)
        batch, more = collector.answer(since, api_conf.metering_gather_batch)
        endpoint.store_rollups(RequestContext.admin(cell), cell, batch, more)

    gatherer = Gatherer(api_conf, db, send=send, clock=Clock())
    endpoint = AccountingEndpoint(api_conf, db, gatherer)
    gatherer.round()
    assert requests == [0, 2, 4]
    assert store.cursor(db, "top!c1") == 5
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(UsageHourly.__table__)).scalar() == 5


def test_more_without_progress_waits_for_the_next_round(api_conf, db):
    asked = []
    gatherer = Gatherer(api_conf, db, send=lambda cell, since: asked.append(since), clock=Clock())
    endpoint = AccountingEndpoint(api_conf, db, gatherer)
    endpoint.store_rollups(RequestContext.admin(), "top!c1", [rollup(3)], True)
    assert asked == [3]
    # The same answer again (a replay) moves nothing: no tight loop of requests.
    endpoint.store_rollups(RequestContext.admin(), "top!c1", [rollup(3)], True)
    assert asked == [3]


@pytest.mark.parametrize("cell_path", ["top", "other!c1", "", None])
def test_answers_from_outside_the_tree_are_dropped(api_conf, db, cell_path):
    gatherer = Gatherer(api_conf, db, send=lambda cell, since: None)
    AccountingEndpoint(api_conf, db, gatherer).store_rollups(RequestContext.admin(), cell_path,
                                                             [rollup(1)], False)
    with db.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(UsageHourly.__table__)).scalar() == 0


def test_build_refuses_a_compute_cell(tmp_path):
    conf = config.parse({
        "cell": {"name": "c1", "type": "compute", "parent": {"path": "top", "broker_url": "fake:///t"}},
        "database": {"url": f"sqlite:///{tmp_path}/c1.db"}, "broker": {"url": "fake:///c1"}})
    with pytest.raises(ConfigError, match="API cell only"):
        accounting_service.build(conf)


# --- end to end through the cells daemons ----------------------------------------------------

class CollectorEndpoint:
    """The collector's RPC side in the compute cell: answers by routing store_rollups to reply_to."""

    target = rpc.target("1.0")

    def __init__(self, broker_url: str, cell_path: str, collector: FakeCollector) -> None:
        self.cells_api = CellsAPI(broker_url)
        self.cell_path = cell_path
        self.collector = collector
        self.requests: list[int] = []
        self.lock = threading.Lock()

    def send_rollups(self, ctxt: RequestContext, since: int, limit: int, reply_to: str) -> None:
        with self.lock:
            self.requests.append(since)
        batch, more = self.collector.answer(since, limit)
        self.cells_api.route(ctxt, reply_to, "metering-accounting", "store_rollups",
                             {"cell_path": self.cell_path, "rollups": batch, "more": more})


def wait_for(predicate, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def cell_tree(tmp_path):
    """Configurations of top (API) > site > leaf (compute) on fresh in-process brokers, migrated."""
    tag = uuid.uuid4().hex[:8]
    urls = {n: f"fake:///{n}-{tag}" for n in ("top", "site", "leaf")}
    dbs = {n: f"sqlite:///{tmp_path}/{n}.db" for n in ("top", "site", "leaf")}
    confs = {
        "top": config.parse({
            "cell": {"name": "top", "type": "api",
                     "children": [{"name": "site", "broker_url": urls["site"]}]},
            "database": {"url": dbs["top"]}, "broker": {"url": urls["top"]},
            "metering": {"gather_interval": 30, "gather_batch": 3}}),
        "site": config.parse({
            "cell": {"name": "site", "type": "site", "parent": {"path": "top", "broker_url": urls["top"]},
                     "children": [{"name": "leaf", "broker_url": urls["leaf"]}]},
            "database": {"url": dbs["site"]}, "broker": {"url": urls["site"]}}),
        "leaf": config.parse({
            "cell": {"name": "leaf", "type": "compute",
                     "parent": {"path": "top!site", "broker_url": urls["site"]}},
            "database": {"url": dbs["leaf"]}, "broker": {"url": urls["leaf"]}}),
    }
    for conf in confs.values():
        migrate.upgrade(conf.database_url, conf.type)
    add_cell(DATABASES.get(dbs["top"]), "top!site!leaf")
    return confs


def run_tree(confs: dict[str, Any], collector: Any) -> list[Any]:
    """Start the cells daemons, the accounting and ``collector`` on the leaf's metering-collector topic."""
    leaf = confs["leaf"].broker_url
    components: list[Any] = [service.RpcServer(
        "collector", rpc.get_server(leaf, "metering-collector", "leaf-collector", [collector]))]
    for conf in confs.values():
        components += cells_cmd.build(conf)
    components += accounting_service.build(confs["top"])
    return service.start_all(components)


def usage_count(db) -> int:
    with db.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(UsageHourly.__table__)).scalar_one()


def test_gather_through_a_site_cell_end_to_end(cell_tree):
    top_db = DATABASES.get(cell_tree["top"].database_url)
    collector = CollectorEndpoint(cell_tree["leaf"].broker_url, "top!site!leaf", FakeCollector(8))
    started = run_tree(cell_tree, collector)
    try:
        assert wait_for(lambda: store.cursor(top_db, "top!site!leaf") == 8)
        assert usage_count(top_db) == 8
        # Batches of 3, each following the answer of the one before: 0, 3, 6.
        assert collector.requests[:3] == [0, 3, 6]
    finally:
        service.stop_all(started)


def test_gather_from_the_real_collector(cell_tree):
    """The compute cell's own collector endpoint, answering from its rollups table."""
    from metering.collector.gathering import GatheringEndpoint
    from metering.collector.store import VALUE_COLUMNS, SampleStore

    leaf_db = DATABASES.get(cell_tree["leaf"].database_url)
    samples = SampleStore(leaf_db)
    hours = [dt.datetime(2026, 11, 20, h) for h in range(4)]
    made = {}
    for instance in (str(uuid.uuid4()), str(uuid.uuid4())):
        for hour in hours:
            values = rollup(0, instance)
            made[(instance, hour)] = {c: values[c] for c in VALUE_COLUMNS}
    assert samples.write_rollups(made) == 8
    top_db = DATABASES.get(cell_tree["top"].database_url)
    started = run_tree(cell_tree, GatheringEndpoint(cell_tree["leaf"], samples))
    try:
        assert wait_for(lambda: store.cursor(top_db, "top!site!leaf") == 8)
        assert usage_count(top_db) == 8
        with top_db.engine.connect() as conn:
            got = conn.execute(sa.select(UsageHourly.__table__)).all()
        assert {(r.instance_id, r.hour) for r in got} == set(made)
        assert all(r.vcpu_hours == 1.0 and r.project_id == "p1" for r in got)
    finally:
        service.stop_all(started)
