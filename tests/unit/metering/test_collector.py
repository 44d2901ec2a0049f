"""The collector on a real database: idempotent ingest and rollups, late samples, restarts,
retention, bad samples, and answering the API cell's requests page by page."""

from __future__ import annotations

import json
import queue
from typing import Any

import pytest
import sqlalchemy as sa

from cells import rpc
from cells.config import CellConfig
from cells.context import RequestContext
from cells.db.cell_models import MeteringSample
from cells.db.engine import Database
from metering.collector.gathering import GatheringEndpoint
from metering.rpcapi import CollectorAPI
from tests.conftest import write_cell_config
from tests.unit.metering.rig import BASE, OTHER, POLL, Rig, poll, polls, total


@pytest.fixture
def db(sqlite_db) -> Database:
    return sqlite_db("compute")


def samples_stored(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(MeteringSample)).scalar_one())


def test_two_hours_of_polls_roll_into_hourly_rows(db):
    rig = Rig(db, now=BASE + 3 * 3600)
    rig.feed(polls(BASE + 200, 24) + polls(BASE + 250, 24, OTHER, host="hv-b", vcpus=1))
    rig.roll()
    rows = rig.rows()
    assert [r["hour"][-7:] for r in rows] == [":00:00Z"] * 3
    last = BASE + 200 + 23 * POLL
    assert total(rows, "seconds") == pytest.approx(last - (BASE - 100))
    assert total(rows, "vcpu_hours") == pytest.approx(2 * (last - BASE + 100) / 3600)
    assert total(rows, "hs06_hours") == pytest.approx(10 * total(rows, "vcpu_hours"))
    assert total(rows, "net_in_bytes") == 1000 * (last - BASE)  # from 0 at BASE: launched < 2 polls
    assert total(rows, "net_out_bytes") == 10 * (last - BASE)
    assert rows[1]["flavor_name"] == "m1.medium" and rows[1]["ram_gb_hours"] == pytest.approx(4.0)
    other = rig.rows(OTHER)
    assert total(other, "hs06_hours") == pytest.approx(20 * total(other, "vcpu_hours"))


def test_replaying_a_batch_changes_nothing_and_new_samples_bump_only_their_rows(db):
    rig = Rig(db, now=BASE + 3 * 3600)
    batch = polls(BASE + 200, 20)  # the last at BASE + 5900
    rig.feed(batch)
    first = rig.roll()
    before = rig.rows(keep_revision=True)
    assert first.changed == len(before) == 3
    rig.feed(batch)
    rig.feed(list(reversed(batch)))
    assert rig.roll().changed == 0
    assert rig.rows(keep_revision=True) == before
    assert samples_stored(db) == len(batch)
    # One more poll, within the last hour: only that hour's row changes.
    rig.feed(poll(BASE + 6200, rx=1000 * 6200, tx=10 * 6200))
    assert rig.roll().changed == 1
    after = rig.rows(keep_revision=True)
    assert after[:2] == before[:2]
    assert after[2]["revision"] > max(r["revision"] for r in before)
    assert after[2]["seconds"] == before[2]["seconds"] + POLL


def test_a_late_sample_gives_the_same_rows_as_in_order(db, sqlite_db):
    batch = polls(BASE + 200, 24)
    late = [s for s in batch if s["timestamp"] == batch[40]["timestamp"]]
    early = [s for s in batch if s not in late]
    rig = Rig(db, now=BASE + 3 * 3600)
    rig.feed(early)
    rig.roll()
    rig.feed(late)
    rig.roll()
    in_order = Rig(sqlite_db("compute"), now=BASE + 3 * 3600)
    in_order.feed(batch)
    in_order.roll()
    assert rig.rows() == in_order.rows()


def test_a_restart_mid_hour_neither_loses_nor_double_counts(db, sqlite_db):
    batch = polls(BASE + 200, 24)
    half = len(batch) // 2
    first = Rig(db, now=BASE + 2 * 3600)
    first.feed(batch[:half])
    first.roll()
    # Killed after storing more samples but before rolling them: the dirty set is lost.
    first.feed(batch[half:half + 8])
    second = Rig(db, now=BASE + 2 * 3600 + 600)
    assert second.roller.recover() == 1
    second.feed(batch[half - 8:])  # the broker redelivers some the first run had stored
    second.roll()
    once = Rig(sqlite_db("compute"), now=BASE + 3 * 3600)
    once.feed(batch)
    once.roll()
    assert second.rows() == once.rows()


def test_samples_past_the_retention_are_dropped_and_purged_but_rollups_stay(db):
    rig = Rig(db, now=BASE + 3 * 3600, retention=3 * 3600)
    result = rig.feed(polls(BASE - 600, 2) + polls(BASE + 3800, 6))
    assert result.too_old == 2 * 4 and result.stored == 6 * 4
    rig.roll()
    rows = rig.rows()
    assert [r["hour"] for r in rows] == [rig.rows()[0]["hour"]] and rows[0]["samples"] == 6
    # An hour and more later, the first samples of that hour are past the retention.
    rig.now += 3600 + 700
    assert rig.store.purge(round((rig.now - 3 * 3600) * 1e6)) == 2 * 4
    assert samples_stored(db) == 4 * 4
    assert rig.rows() == rows
    # A late sample of that hour is kept, but its rollup is final: the raw samples are partly gone.
    assert rig.feed(poll(BASE + 4450)).stored == 4
    assert rig.roll().frozen > 0
    assert rig.rows() == rows


def test_bad_samples_are_counted_and_skipped(db):
    rig = Rig(db, now=BASE + 3 * 3600)
    good = poll(BASE + 200)
    bad: list[Any] = [
        "not a sample", None, {k: v for k, v in good[0].items() if k != "instance_id"},
        {**good[0], "volume": "12"}, {**good[0], "volume": True}, {**good[0], "volume": float("nan")},
        {**good[0], "timestamp": "yesterday"}, {**good[0], "timestamp": 12}, {**good[0], "metadata": []},
        {**good[0], "name": "x" * 65}, {**good[0], "host": 7},
    ]
    result = rig.feed(bad + good)
    assert result.bad == len(bad) and result.stored == len(good)
    assert result.reasons["volume"] == 3 and result.reasons["timestamp"] == 2
    assert samples_stored(db) == len(good)
    messages = [{"event_type": "metering.samples", "payload": {"samples": "nope"}},
                {"event_type": "metering.samples", "payload": None},
                {"event_type": "other.event", "payload": {"samples": good}},
                {"event_type": "metering.samples", "payload": {"samples": poll(BASE + 500)}}]
    result = rig.ingestor.ingest_notifications(messages)
    assert result.bad == 2 and result.stored == 4
    assert rig.ingestor.counters.bad == len(bad) + 2


class CellsRecorder:
    """Stands in for the cells daemon on the cell's broker: records routed envelopes."""

    target = rpc.target("1.0")

    def __init__(self) -> None:
        self.envelopes: queue.Queue[dict[str, Any]] = queue.Queue()

    def route(self, ctxt: Any, envelopes: list[dict[str, Any]]) -> None:
        for env in envelopes:
            self.envelopes.put(env)


@pytest.fixture
def conf(tmp_path, fake_broker) -> CellConfig:
    return write_cell_config(str(tmp_path / "cell1.yaml"), {
        "cell": {"name": "cell1", "type": "compute",
                 "parent": {"path": "top", "broker_url": "fake:///top-unused"}},
        "database": {"url": f"sqlite:///{tmp_path}/unused.db"},
        "broker": {"url": fake_broker}, "state_dir": str(tmp_path / "cell1")})


@pytest.fixture
def cells(fake_broker):
    recorder = CellsRecorder()
    server = rpc.get_server(fake_broker, "cells", "test", [recorder])
    server.start()
    yield recorder
    server.stop()
    server.wait()


def test_send_rollups_pages_by_revision_and_answers_by_routing(db, conf, cells):
    rig = Rig(db, now=BASE + 3 * 3600)
    rig.feed(polls(BASE + 200, 24) + polls(BASE + 250, 24, OTHER, host="hv-b", vcpus=1))
    rig.roll()
    endpoint = GatheringEndpoint(conf, rig.store)
    seen: list[dict[str, Any]] = []
    since, answers = 0, 0
    while True:
        assert endpoint.send_rollups(RequestContext.admin("top"), since, 4, "top") > 0
        env = cells.envelopes.get(timeout=5)
        assert (env["target_path"], env["topic"], env["method"]) == ("top", "metering-accounting",
                                                                     "store_rollups")
        args = env["args"]
        assert args["cell_path"] == "top!cell1"
        seen += args["rollups"]
        since = args["rollups"][-1]["revision"]
        answers += 1
        if not args["more"]:
            break
    assert answers == 2 and len(seen) == 6
    assert [r["revision"] for r in seen] == sorted({r["revision"] for r in seen})
    row = seen[0]
    assert set(row) == {"instance_id", "hour", "hour_seconds", "project_id", "user_id", "flavor_id",
                        "flavor_name", "vcpus", "ram_mb", "disk_gb", "host", "hs06_per_core",
                        "seconds", "vcpu_hours", "hs06_hours", "ram_gb_hours", "disk_gb_hours",
                        "net_in_bytes", "net_out_bytes", "samples", "revision"}
    assert row["hour"].endswith(":00:00Z") and row["hour_seconds"] == 3600.0
    # Past the last revision: an empty answer, no more.
    assert endpoint.send_rollups(RequestContext.admin("top"), since, 4, "top") == 0
    assert cells.envelopes.get(timeout=5)["args"] == {"cell_path": "top!cell1", "rollups": [],
                                                       "more": False}
    # A malformed request is dropped, not answered.
    assert endpoint.send_rollups(RequestContext.admin("top"), "0", 4, "top") == 0


def test_the_thin_client_routes_a_request_to_the_collector_of_a_cell(fake_broker, cells):
    CollectorAPI(fake_broker).send_rollups_to(RequestContext.admin("top"), "top!cell1", 7, 5000,
                                              "top")
    env = cells.envelopes.get(timeout=5)
    assert (env["target_path"], env["topic"], env["method"]) == ("top!cell1", "metering-collector",
                                                                 "send_rollups")
    assert env["args"] == {"since": 7, "limit": 1000, "reply_to": "top"}


def test_idempotent_on_mariadb(mariadb_db):
    db = mariadb_db("compute")
    rig = Rig(db, now=BASE + 3 * 3600)
    batch = polls(BASE + 200, 24)
    rig.feed(batch)
    assert rig.roll().changed == 3
    before = rig.rows(keep_revision=True)
    rig.feed(batch)
    assert rig.roll().changed == 0
    assert rig.rows(keep_revision=True) == before
    assert total(before, "net_in_bytes") == 1000 * (23 * POLL + 200)


def test_odd_strings_are_stored_as_sent_on_mariadb(mariadb_db):
    db = mariadb_db("compute")
    rig = Rig(db, now=BASE + 3 * 3600)
    sample = {**poll(BASE + 200)[0], "host": "h'o\\st\u00e9 \"x\" %s", "project_id": "p;--",
              "metadata": {"interval": 300.0, "note": "it's \\ \u2603"}, "volume": 1e-7}
    assert rig.feed([sample, sample]).stored == 2
    with db.engine.connect() as conn:
        row = conn.execute(sa.select(MeteringSample)).one()
    assert (row.host, row.project_id, row.volume) == (sample["host"], "p;--", 1e-7)
    assert json.loads(row.metadata) == sample["metadata"]
