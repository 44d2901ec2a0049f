"""The compute cell's scheduler on SQLite: claims, statement count, retries, no valid host."""

from __future__ import annotations

import datetime as dt
import threading

import sqlalchemy as sa

from cells import rpc, states
from cells.context import RequestContext
from cells.db.cell_models import ComputeNode, Instance
from cells.db.types import utcnow
from cells.rpcapi import CellsAPI
from scheduler.claims import NO_VALID_HOST
from scheduler.host_scheduler import HostScheduler
from tests.unit.scheduler.helpers import (
    StatementCounter,
    add_host,
    assert_usage_matches_instances,
    build_request,
    flavor,
    instances,
    nodes,
)

CTX = RequestContext.admin("top!cell1")


def test_claim_writes_row_and_usage_and_casts(sqlite_db, make_host_scheduler):
    db = sqlite_db("compute")
    add_host(db, "h1")
    sched, compute, cells = make_host_scheduler(db)
    req = build_request(flavor(vcpus=2, ram=1024, disk=10))
    [outcome] = sched.build_instances(CTX, [req])
    assert (outcome.result, outcome.host) == ("claimed", "h1")
    row = instances(db)[req["instance"]["uuid"]]
    assert (row.vm_state, row.task_state, row.host, row.version) == (states.BUILDING, states.SPAWNING,
                                                                      "h1", 1)
    assert (row.vcpus, row.memory_mb, row.root_gb) == (2, 1024, 10)
    assert row.metadata == {"k": "v"} and row.flavor["ram"] == 1024
    assert dt.timedelta(seconds=590) < row.task_deadline - utcnow() <= dt.timedelta(seconds=600)
    node = nodes(db)["h1"]
    assert (node.vcpus_used, node.memory_mb_used, node.local_gb_used, node.running_vms,
            node.generation) == (2, 1024, 10, 1, 1)
    [(args, _)] = compute.of("build_and_run_instance")
    host, instance, image = args
    assert host == "h1" and instance["uuid"] == req["instance"]["uuid"] and image == req["image"]
    assert isinstance(instance["task_deadline"], str)  # primitives only on the wire
    assert cells.calls == []


def test_three_statements_per_boot(sqlite_db, make_host_scheduler):
    db = sqlite_db("compute")
    for i in range(3):
        add_host(db, f"h{i}")
    sched, _, _ = make_host_scheduler(db)
    sched.refresh()
    counter = StatementCounter(db)
    commits: list[int] = []
    sa.event.listen(db.engine, "commit", lambda conn: commits.append(1))
    outcomes = sched.build_instances(CTX, [build_request() for _ in range(10)])
    assert [o.result for o in outcomes] == ["claimed"] * 10
    assert counter.statements == ["INSERT", "UPDATE"] * 10
    assert len(commits) == 10


def test_consecutive_requests_see_each_other_without_reading(sqlite_db, make_host_scheduler):
    db = sqlite_db("compute")
    for i in range(4):
        add_host(db, f"h{i}")
    sched, _, _ = make_host_scheduler(db)
    outcomes = sched.build_instances(CTX, [build_request() for _ in range(8)])
    per_host = {h: sum(1 for o in outcomes if o.host == h) for h in ("h0", "h1", "h2", "h3")}
    assert per_host == {"h0": 2, "h1": 2, "h2": 2, "h3": 2}


def test_filters_out_disabled_down_and_small_hosts(sqlite_db, make_host_scheduler):
    db = sqlite_db("compute")
    add_host(db, "disabled", disabled=True)
    add_host(db, "down", last_seen_at=utcnow() - dt.timedelta(minutes=5))
    add_host(db, "small", memory_mb=256)
    add_host(db, "good", memory_mb=1024)
    sched, _, _ = make_host_scheduler(db)
    outcomes = sched.build_instances(CTX, [build_request(flavor(ram=512)) for _ in range(3)])
    assert [o.host for o in outcomes] == ["good", "good", None]
    assert outcomes[2].result == "no_host"


def test_lost_race_rereads_the_host_and_tries_the_next(sqlite_db, make_host_scheduler):
    db = sqlite_db("compute")
    add_host(db, "h1", memory_mb=8192)
    add_host(db, "h2", memory_mb=4096)
    with db.session() as s:  # h2 is the worse choice: less free RAM
        s.execute(sa.update(ComputeNode).where(ComputeNode.host == "h2").values(memory_mb_used=1024))
    sched, _, _ = make_host_scheduler(db)
    sched.refresh()
    assert [h.host for h in sorted(sched.cache.hosts(), key=sched.weigher.key, reverse=True)] == [
        "h1", "h2"]
    # Another scheduler fills h1 behind this one's back.
    with db.session() as s:
        s.execute(sa.update(ComputeNode).where(ComputeNode.host == "h1").values(
            memory_mb_used=8192, generation=ComputeNode.generation + 1))
    [outcome] = sched.build_instances(CTX, [build_request(flavor(ram=1024))])
    assert outcome.host == "h2"
    h1 = next(h for h in sched.cache.hosts() if h.host == "h1")
    assert h1.memory_mb_used == 8192  # re-read after the failed claim
    assert instances(db)[outcome.uuid].host == "h2"
    assert nodes(db)["h1"].running_vms == 0  # the failed claim rolled back entirely
    assert nodes(db)["h2"].memory_mb_used == 2048


def test_redelivered_request_claims_nothing_and_recasts_a_pending_build(sqlite_db,
                                                                       make_host_scheduler):
    db = sqlite_db("compute")
    add_host(db, "h1")
    sched, compute, _ = make_host_scheduler(db)
    req = build_request()
    first = sched.build_instances(CTX, [req])
    again = sched.build_instances(CTX, [req])
    assert [o.result for o in first] == ["claimed"]
    assert [o.result for o in again] == ["duplicate"]
    assert len(instances(db)) == 1
    assert nodes(db)["h1"].running_vms == 1
    # The row still awaits its agent (it may be our own claim whose COMMIT was retried):
    # the build goes out again, to the host of the committed claim.
    builds = compute.of("build_and_run_instance")
    assert len(builds) == 2
    assert builds[0][0][0] == builds[1][0][0] == "h1"  # args: (host, instance, image)
    assert [h.running_vms for h in sched.cache.hosts()] == [1]  # the reservation was given back
    assert_usage_matches_instances(db)
    # Once the agent has reported (version 2), a redelivery casts nothing.
    with db.session() as s:
        s.execute(sa.update(Instance).values(version=2, vm_state="active", task_state=None))
    assert [o.result for o in sched.build_instances(CTX, [req])] == ["duplicate"]
    assert len(compute.of("build_and_run_instance")) == 2


def test_redelivered_no_host_request_is_ignored(sqlite_db, make_host_scheduler):
    db = sqlite_db("compute")
    sched, _, cells = make_host_scheduler(db)
    req = build_request()
    sched.build_instances(CTX, [req])
    assert [o.result for o in sched.build_instances(CTX, [req])] == ["duplicate"]
    assert len(cells.of("updates_up")) == 1


def test_malformed_request_does_not_stop_the_batch(sqlite_db, make_host_scheduler):
    db = sqlite_db("compute")
    add_host(db, "h1")
    sched, compute, _ = make_host_scheduler(db)
    bad = build_request()
    del bad["instance"]["flavor"]
    outcomes = sched.build_instances(CTX, [bad, build_request()])
    assert [o.result for o in outcomes] == ["claimed"]
    assert len(compute.of("build_and_run_instance")) == 1


class CellsEndpoint:
    target = rpc.target("1.0")

    def __init__(self) -> None:
        self.updates: list[dict] = []
        self.received = threading.Event()

    def updates_up(self, ctxt, updates):
        self.updates.extend(updates)
        self.received.set()


def test_no_valid_host_writes_error_row_and_sends_update_up(sqlite_db, fake_broker, make_host_scheduler):
    db = sqlite_db("compute")
    add_host(db, "h1", memory_mb=1024)
    endpoint = CellsEndpoint()
    server = rpc.get_server(fake_broker, "cells", "cells-test", [endpoint])
    server.start()
    try:
        sched, compute, _ = make_host_scheduler(db)
        sched = HostScheduler(sched.conf, db, compute, CellsAPI(fake_broker))
        big = build_request(flavor(ram=2048))
        [outcome] = sched.build_instances(CTX, [big])
        assert outcome.result == "no_host"
        assert endpoint.received.wait(10)
    finally:
        server.stop()
        server.wait()
    uuid = big["instance"]["uuid"]
    row = instances(db)[uuid]
    assert (row.vm_state, row.task_state, row.host, row.version) == (states.ERROR, None, None, 1)
    assert row.fault["code"] == 500 and row.fault["message"] == NO_VALID_HOST
    [update] = endpoint.updates
    assert update["uuid"] == uuid and update["version"] == 1 and update["cell_path"] == "top!cell1"
    assert update["vm_state"] == "error" and update["task_state"] is None and update["host"] is None
    assert update["fault"]["message"] == NO_VALID_HOST
    assert dt.datetime.fromisoformat(update["fault"]["created"])
    assert dt.datetime.fromisoformat(update["created_at"])
    assert set(update) == {
        "uuid", "version", "cell_path", "host", "vm_state", "task_state", "power_state", "name",
        "project_id", "user_id", "flavor", "image_ref", "metadata", "fault", "created_at",
        "updated_at", "launched_at", "terminated_at", "deleted", "deleted_at"}
    assert compute.calls == []
    assert nodes(db)["h1"].running_vms == 0


def test_no_host_updates_of_one_batch_go_up_in_one_message(sqlite_db, make_host_scheduler):
    db = sqlite_db("compute")
    sched, _, cells = make_host_scheduler(db)
    sched.build_instances(CTX, [build_request() for _ in range(3)])
    [(args, _)] = cells.of("updates_up")
    assert len(args[0]) == 3


def test_created_at_of_the_index_is_kept(sqlite_db, make_host_scheduler):
    db = sqlite_db("compute")
    add_host(db, "h1")
    sched, _, _ = make_host_scheduler(db)
    req = build_request()
    req["instance"]["created_at"] = "2030-01-02T03:04:05Z"
    sched.build_instances(CTX, [req])
    assert instances(db)[req["instance"]["uuid"]].created_at == dt.datetime(2030, 1, 2, 3, 4, 5)


def test_usage_matches_instances_after_filling_the_cell(sqlite_db, make_host_scheduler):
    db = sqlite_db("compute")
    for i in range(3):
        add_host(db, f"h{i}", vcpus=2, memory_mb=2048, local_gb=20)
    sched, _, _ = make_host_scheduler(db, weigher="pack")
    outcomes = sched.build_instances(CTX, [build_request(flavor(1, 512, 5)) for _ in range(14)])
    assert sum(o.result == "claimed" for o in outcomes) == 12
    assert sum(o.result == "no_host" for o in outcomes) == 2
    assert_usage_matches_instances(db)


def test_two_schedulers_spread_500_boots_evenly_over_100_hosts(sqlite_db, make_host_scheduler):
    # Each scheduler knows only its own claims until it refreshes; spread must stay even anyway.
    db = sqlite_db("compute")
    for i in range(100):
        add_host(db, f"h{i:03d}")
    first, _, _ = make_host_scheduler(db, seed=1)
    second, _, _ = make_host_scheduler(db, seed=2)
    for batch in range(50):
        for sched in (first, second):
            sched.build_instances(CTX, [build_request(flavor(2, 2048, 20)) for _ in range(5)])
        if batch % 10 == 9:
            first.refresh()
            second.refresh()
    counts = [n.running_vms for n in nodes(db).values()]
    assert sum(counts) == 500
    assert max(counts) <= 1.5 * (500 / 100)
    assert_usage_matches_instances(db)


def test_a_failed_cast_does_not_lose_the_rest_of_the_batch(sqlite_db, make_host_scheduler):
    db = sqlite_db("compute")
    add_host(db, "h1")
    sched, _, _ = make_host_scheduler(db)
    delivered: list[str] = []

    class FlakyCompute:
        def build_and_run_instance(self, ctxt, host, instance, image):
            if not delivered and instance["name"] == "first":
                delivered.append("lost")
                raise ConnectionError("broker unreachable")
            delivered.append(instance["uuid"])

    sched.compute = FlakyCompute()
    reqs = [build_request() for _ in range(3)]
    reqs[0]["instance"]["name"] = "first"
    outcomes = sched.build_instances(CTX, reqs)
    assert [o.result for o in outcomes] == ["claimed"] * 3
    assert delivered == ["lost", reqs[1]["instance"]["uuid"], reqs[2]["instance"]["uuid"]]
