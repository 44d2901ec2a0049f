"""The agent's SQL on both backends: registration, heartbeat, CAS, claim release, heal."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from cells.config import parse
from cells.db.cell_models import ComputeNode, Instance
from cells.db.types import utcnow
from compute_agent import host, instances
from compute_agent.errors import DuplicateHost
from compute_agent.virt.driver import HostFacts

CONF = parse({"cell": {"name": "c1", "type": "compute", "parent": {"path": "top", "broker_url": "fake:///p"}},
              "database": {"url": "sqlite://"}, "broker": {"url": "fake:///c1"},
              "compute": {"service_down_time": 60}})
FACTS = HostFacts("QEMU", "hv", "Broadwell", 16, 65536)


@pytest.fixture(params=["sqlite", "mariadb"])
def db(request, sqlite_db):
    if request.param == "sqlite":
        return sqlite_db("compute")
    return request.getfixturevalue("mariadb_db")("compute")


def _insert(db, host_name, vcpus=2, ram=512, disk=4, deleted=False):
    now = utcnow()
    row = {"uuid": str(uuid.uuid4()), "project_id": "p", "user_id": "u", "name": "vm", "host": host_name,
           "vm_state": "active", "task_state": None, "power_state": 1, "flavor": {}, "vcpus": vcpus,
           "memory_mb": ram, "root_gb": disk, "image_ref": "i", "metadata": {}, "version": 1,
           "created_at": now, "updated_at": now, "deleted": deleted}
    with db.session() as session:
        session.execute(sa.insert(Instance.__table__).values(**row))
    return row


def _node(db, name):
    with db.session() as session:
        return session.execute(sa.select(ComputeNode.__table__).where(
            ComputeNode.__table__.c.host == name)).mappings().one()


def test_register_heartbeat_and_takeover(db):
    host.register(db, CONF, host.Registration("hv", "id-1", FACTS, 500))
    host.register(db, CONF, host.Registration("hv", "id-1", FACTS, 500))  # a restart: same identity
    assert _node(db, "hv")["vcpus"] == 16 and _node(db, "hv")["local_gb"] == 500
    with pytest.raises(DuplicateHost):
        host.register(db, CONF, host.Registration("hv", "id-2", FACTS, 500))
    assert host.heartbeat(db, {"hv": "id-1"}) == set()
    # Silent for longer than service_down_time: another identity may take the host over.
    table = sa.table("services", sa.column("last_seen_at"))
    with db.session() as session:
        session.execute(sa.update(table).values(last_seen_at=utcnow() - dt.timedelta(seconds=120)))
    host.register(db, CONF, host.Registration("hv", "id-2", FACTS, 500))
    assert host.heartbeat(db, {"hv": "id-1"}) == {"hv"}
    assert host.heartbeat(db, {"hv": "id-2"}) == set()


def test_cas_applies_once(db):
    row = _insert(db, "hv")
    new = db.transaction(lambda s: instances.cas(s, row, {"vm_state": "stopped"}))
    assert new["version"] == 2 and new["vm_state"] == "stopped"
    assert db.transaction(lambda s: instances.cas(s, row, {"vm_state": "error"})) is None
    assert db.transaction(lambda s: instances.get(s, row["uuid"]))["vm_state"] == "stopped"


def test_leave_host_releases_the_claim_only_when_the_cas_applies(db):
    host.register(db, CONF, host.Registration("hv", "id-1", FACTS, 500))
    row = _insert(db, "hv", vcpus=3, ram=1024, disk=7)
    nodes = ComputeNode.__table__
    with db.session() as session:
        session.execute(sa.update(nodes).values(vcpus_used=3, memory_mb_used=1024, local_gb_used=7,
                                                running_vms=1))
    values = {"deleted": True, "vm_state": "deleted"}
    assert db.transaction(lambda s: instances.leave_host(s, row, values)) is not None
    assert db.transaction(lambda s: instances.leave_host(s, row, values)) is None
    node = _node(db, "hv")
    assert (node["vcpus_used"], node["memory_mb_used"], node["local_gb_used"], node["running_vms"]) == \
        (0, 0, 0, 0)


def test_heal_counts_live_rows_of_each_host_in_one_statement(db):
    for name in ("hv", "other"):
        host.register(db, CONF, host.Registration(name, f"id-{name}", FACTS, 500))
    _insert(db, "hv", vcpus=2, ram=512, disk=4)
    _insert(db, "hv", vcpus=1, ram=256, disk=1)
    _insert(db, "hv", vcpus=8, ram=8192, disk=80, deleted=True)
    _insert(db, "other", vcpus=4, ram=4096, disk=40)
    assert db.transaction(lambda s: instances.heal_usage(s, ["hv", "other"])) == 2
    hv, other = _node(db, "hv"), _node(db, "other")
    assert (hv["vcpus_used"], hv["memory_mb_used"], hv["local_gb_used"], hv["running_vms"]) == (3, 768, 5, 2)
    assert (other["vcpus_used"], other["running_vms"]) == (4, 1)
    assert hv["generation"] == 1
    assert db.transaction(lambda s: instances.heal_usage(s, ["hv", "other"])) == 0


def test_past_deadline_and_host_rows_see_only_their_hosts(db):
    mine, theirs = _insert(db, "hv"), _insert(db, "elsewhere")
    table = Instance.__table__
    with db.session() as session:
        session.execute(sa.update(table).values(task_state="rebooting",
                                                task_deadline=utcnow() - dt.timedelta(seconds=5)))
    rows = db.transaction(lambda s: instances.past_deadline(s, ["hv"], utcnow()))
    assert [r["uuid"] for r in rows] == [mine["uuid"]]
    assert [r["uuid"] for r in db.transaction(lambda s: instances.host_rows(s, ["hv"]))] == [mine["uuid"]]
    assert theirs["uuid"] not in {r["uuid"] for r in rows}


def test_update_carries_the_index_fields():
    row = {f: None for f in instances.UPDATE_FIELDS} | {"uuid": "u", "version": 3, "deleted": 0,
                                                        "created_at": dt.datetime(2030, 1, 2, 3, 4, 5)}
    update = instances.to_update(row, "top!c1")
    assert set(update) == set(instances.UPDATE_FIELDS)
    assert update["cell_path"] == "top!c1" and update["deleted"] is False
    assert update["created_at"] == "2030-01-02T03:04:05"
