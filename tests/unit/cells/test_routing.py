"""The cells daemons of a three-level tree (top > site > leaf) on in-process brokers."""

import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from cells import cmd, config, rpc, service
from cells.context import RequestContext
from cells.db import api_models, cell_models, migrate
from cells.db.engine import DATABASES
from cells.db.types import utcnow
from cells.rpcapi import CellsAPI


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


class Recorder:
    target = rpc.target("1.0")

    def __init__(self):
        self.calls = []
        self.event = threading.Event()

    def probe(self, ctxt, value):
        self.calls.append((ctxt.request_id, value))
        self.event.set()


@pytest.fixture
def tree(tmp_path):
    tag = uuid.uuid4().hex[:8]
    urls = {n: f"fake:///{n}-{tag}" for n in ("top", "site", "leaf")}
    dbs = {n: f"sqlite:///{tmp_path}/{n}.db" for n in ("top", "site", "leaf")}
    confs = {
        "top": config.parse({
            "cell": {"name": "top", "type": "api",
                     "children": [{"name": "site", "broker_url": urls["site"]}]},
            "database": {"url": dbs["top"]}, "broker": {"url": urls["top"]},
            "cells": {"capacity_interval": 0.2}}),
        "site": config.parse({
            "cell": {"name": "site", "type": "site",
                     "parent": {"path": "top", "broker_url": urls["top"]},
                     "children": [{"name": "leaf", "broker_url": urls["leaf"]}]},
            "database": {"url": dbs["site"]}, "broker": {"url": urls["site"]}}),
        "leaf": config.parse({
            "cell": {"name": "leaf", "type": "compute",
                     "parent": {"path": "top!site", "broker_url": urls["site"]}},
            "database": {"url": dbs["leaf"]}, "broker": {"url": urls["leaf"]},
            "cells": {"capacity_interval": 0.2}}),
    }
    for conf in confs.values():
        migrate.upgrade(conf.database_url, conf.type)
    components = []
    for conf in confs.values():
        components += service.start_all(cmd.build(conf))
    yield confs
    service.stop_all(components)


def test_route_down_two_levels_reaches_local_topic(tree):
    recorder = Recorder()
    server = rpc.get_server(tree["leaf"].broker_url, "probe", "t", [recorder])
    server.start()
    try:
        ctxt = RequestContext(project_id="p1", roles=["member"])
        CellsAPI(tree["top"].broker_url).route(ctxt, "top!site!leaf", "probe", "probe",
                                              {"value": 42})
        assert recorder.event.wait(10)
        assert recorder.calls == [(ctxt.request_id, 42)]
    finally:
        server.stop()
        server.wait()


def test_broadcast_reaches_every_cell(tree):
    recorders = {}
    servers = []
    for name in ("top", "site", "leaf"):
        recorders[name] = Recorder()
        server = rpc.get_server(tree[name].broker_url, "probe", "t", [recorders[name]])
        server.start()
        servers.append(server)
    try:
        CellsAPI(tree["top"].broker_url).broadcast_down(RequestContext(), "probe", "probe",
                                                        {"value": 1})
        for name, recorder in recorders.items():
            assert recorder.event.wait(10), name
    finally:
        for server in servers:
            server.stop()
            server.wait()


def _index_row(top_db, uid, version=0):
    with top_db.session() as s:
        s.add(api_models.InstanceIndex(
            uuid=uid, project_id="p1", user_id="u1", name="vm", vm_state="building",
            task_state="scheduling", flavor={"vcpus": 1}, image_ref="img", version=version,
            cell_path="top!site!leaf"))


def _update(uid, version, vm_state, task_state=None):
    now = utcnow().isoformat()
    return {"uuid": uid, "version": version, "cell_path": "top!site!leaf", "host": "h1",
            "vm_state": vm_state, "task_state": task_state, "power_state": 1, "name": "vm",
            "project_id": "p1", "user_id": "u1", "flavor": {"vcpus": 1}, "image_ref": "img",
            "metadata": {}, "fault": None, "created_at": now, "updated_at": now,
            "launched_at": now, "terminated_at": None, "deleted": False, "deleted_at": None}


def test_updates_apply_only_when_newer(tree):
    top_db = DATABASES.get(tree["top"].database_url)
    uid = str(uuid.uuid4())
    _index_row(top_db, uid)
    leaf = CellsAPI(tree["leaf"].broker_url)
    ctxt = RequestContext.admin()
    leaf.updates_up(ctxt, [_update(uid, 3, "stopped")])
    leaf.updates_up(ctxt, [_update(uid, 2, "active")])  # late and older: ignored

    def state():
        with top_db.session() as s:
            row = s.get(api_models.InstanceIndex, uid)
            return (row.vm_state, row.version) if row.version else None

    assert wait_for(state) == ("stopped", 3)
    time.sleep(0.3)
    assert state() == ("stopped", 3)
    leaf.updates_up(ctxt, [_update(uid, 4, "active")])
    assert wait_for(lambda: state() == ("active", 4))


def test_capacity_reaches_top_through_site(tree):
    leaf_db = DATABASES.get(tree["leaf"].database_url)
    with leaf_db.session() as s:
        s.add(cell_models.Service(host="h1", binary="cloud-compute", identity=str(uuid.uuid4())))
        s.add(cell_models.ComputeNode(host="h1", hypervisor_hostname="h1", hypervisor_type="test",
                                      vcpus=8, memory_mb=16384, local_gb=100, vcpus_used=2,
                                      memory_mb_used=2048, cpu_allocation_ratio=4.0))
    top_db = DATABASES.get(tree["top"].database_url)

    def row():
        with top_db.session() as s:
            return s.get(api_models.ChildCapacity, "top!site!leaf")

    cap = wait_for(row)
    assert cap.vcpus_free == 30 and cap.ram_mb_free == 14336 and cap.hosts_up == 1
    assert cap.capabilities["hosts"][0]["host"] == "h1"


def test_delete_before_build_leaves_tombstone_and_index_deleted(tree):
    top_db = DATABASES.get(tree["top"].database_url)
    leaf_db = DATABASES.get(tree["leaf"].database_url)
    uid = str(uuid.uuid4())
    _index_row(top_db, uid)
    CellsAPI(tree["top"].broker_url).instance_action(
        RequestContext.admin(), "top!site!leaf", uid, "delete", project_id="p1", name="vm")

    def deleted():
        with top_db.session() as s:
            return s.get(api_models.InstanceIndex, uid).deleted

    assert wait_for(deleted)
    with leaf_db.session() as s:
        assert s.get(cell_models.Instance, uid).deleted


def test_resend_reports_missing_instances_as_lost(tree):
    top_db = DATABASES.get(tree["top"].database_url)
    uid = str(uuid.uuid4())
    _index_row(top_db, uid)
    CellsAPI(tree["top"].broker_url).route(RequestContext.admin(), "top!site!leaf", "cells",
                                          "resend_instances", {"uuids": [uid]})

    def state():
        with top_db.session() as s:
            return s.get(api_models.InstanceIndex, uid).vm_state

    assert wait_for(lambda: state() == "error")


class Agent:
    """A compute agent's RPC endpoint at the version the agents serve."""

    target = rpc.target("1.2")

    def __init__(self):
        self.snapshots = []

    def snapshot_instance(self, ctxt, uuid, image_id, disk_format="qcow2"):
        self.snapshots.append((ctxt.user_id, uuid, image_id, disk_format))


def test_snapshot_reaches_the_instances_agent_with_its_image(tree):
    leaf_db = DATABASES.get(tree["leaf"].database_url)
    uid, image_id = str(uuid.uuid4()), str(uuid.uuid4())
    with leaf_db.session() as s:
        s.add(cell_models.Service(host="h1", binary="cloud-compute", identity=str(uuid.uuid4()),
                                  last_seen_at=utcnow()))
        s.add(cell_models.Instance(
            uuid=uid, project_id="p1", user_id="u1", name="vm", host="h1", vm_state="active",
            flavor={}, vcpus=1, memory_mb=512, root_gb=1, image_ref="i", version=3))
    agent = Agent()
    server = rpc.get_server(tree["leaf"].broker_url, "compute", "h1", [agent])
    server.start()
    try:
        CellsAPI(tree["top"].broker_url).instance_action(
            RequestContext(user_id="u1", project_id="p1", roles=["member"]), "top!site!leaf", uid,
            "snapshot", image_id=image_id, disk_format="raw")
        assert wait_for(lambda: agent.snapshots) == [("u1", uid, image_id, "raw")]
    finally:
        server.stop()
        server.wait()


def test_deadline_resolution_in_compute_cell(tree):
    from cells.manager import CellsManager

    leaf_db = DATABASES.get(tree["leaf"].database_url)
    uid = str(uuid.uuid4())
    with leaf_db.session() as s:
        s.add(cell_models.ComputeNode(host="h9", hypervisor_hostname="h9", hypervisor_type="test",
                                      vcpus=8, memory_mb=4096, local_gb=10, vcpus_used=1,
                                      memory_mb_used=512, local_gb_used=1, running_vms=1))
        s.add(cell_models.Instance(
            uuid=uid, project_id="p1", user_id="u1", name="vm", host="h9", vm_state="building",
            task_state="spawning", flavor={}, vcpus=1, memory_mb=512, root_gb=1, image_ref="i",
            version=1, task_deadline=utcnow().replace(year=2000)))
    manager = CellsManager(tree["leaf"], leaf_db)
    manager.forwarders = {}  # nothing is sent in this test
    manager._send_up = lambda updates: None
    manager.resolve_deadlines()
    with leaf_db.session() as s:
        row = s.get(cell_models.Instance, uid)
        node = s.scalar(sa.select(cell_models.ComputeNode).where(cell_models.ComputeNode.host == "h9"))
    assert row.vm_state == "error" and row.version == 2 and "deadline" in row.fault["message"]
    assert row.host is None
    assert (node.vcpus_used, node.memory_mb_used, node.running_vms) == (0, 0, 0)


def test_index_updated_at_is_when_the_index_learned_of_a_change(sqlite_db):
    from cells import index

    db = sqlite_db("api")
    uid = str(uuid.uuid4())
    _index_row(db, uid)
    late = _update(uid, 2, "active")
    late["updated_at"] = "2000-01-01T00:00:00"
    before = utcnow().replace(microsecond=0)
    index.apply_updates(db, [late])
    with db.session() as s:
        stamped = s.get(api_models.InstanceIndex, uid).updated_at
    assert stamped >= before
    index.apply_updates(db, [late | {"sync": True}])  # same version again: nothing changed
    with db.session() as s:
        assert s.get(api_models.InstanceIndex, uid).updated_at == stamped


def test_index_stamp_on_mariadb(mariadb_db):
    from cells import index

    db = mariadb_db("api")
    uid = str(uuid.uuid4())
    _index_row(db, uid)
    index.apply_updates(db, [_update(uid, 5, "active") | {"updated_at": "2000-01-01T00:00:00"}])
    with db.session() as s:
        row = s.get(api_models.InstanceIndex, uid)
    assert row.version == 5 and row.updated_at.year > 2000


def test_tracebacks_are_redacted():
    import logging

    from cells.service import RedactingFormatter

    try:
        raise RuntimeError("cannot reach rabbit://guest:s3cret@host:5672/x with password=hunter2")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    text = RedactingFormatter("%(message)s").format(record)
    assert "s3cret" not in text and "hunter2" not in text and "Traceback" in text


def test_a_cell_cannot_move_another_cells_instance(sqlite_db):
    from cells import index

    db = sqlite_db("api")
    uid = str(uuid.uuid4())
    _index_row(db, uid)  # owned by top!site!leaf
    foreign = _update(uid, 9, "active") | {"cell_path": "top!other", "project_id": "evil"}
    assert index.apply_updates(db, [foreign]) == 0
    own = _update(uid, 2, "active") | {"project_id": "evil", "created_at": "2000-01-01T00:00:00"}
    assert index.apply_updates(db, [own]) == 1
    with db.session() as s:
        row = s.get(api_models.InstanceIndex, uid)
    assert (row.vm_state, row.project_id) == ("active", "p1") and row.created_at.year > 2000


def test_refused_action_clears_the_task_state_at_once(sqlite_db):
    from cells import index

    db = sqlite_db("api")
    uid = str(uuid.uuid4())
    _index_row(db, uid)
    index.apply_updates(db, [_update(uid, 2, "error")])
    with db.session() as s:
        s.get(api_models.InstanceIndex, uid).task_state = "powering-off"
    assert index.apply_updates(db, [_update(uid, 2, "error") | {"sync": True}]) == 0  # in flight
    assert index.apply_updates(db, [_update(uid, 2, "error") | {"refused": "stop"}]) == 1
    with db.session() as s:
        assert s.get(api_models.InstanceIndex, uid).task_state is None
