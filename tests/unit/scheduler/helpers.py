"""Builders shared by the scheduler tests: configurations, hosts, requests, recorders."""

from __future__ import annotations

import datetime as dt
import threading
import uuid as uuid_mod
from typing import Any

import sqlalchemy as sa

from cells import config as config_mod
from cells import states
from cells.config import CellConfig
from cells.context import RequestContext
from cells.db.api_models import ChildCapacity, InstanceIndex
from cells.db.cell_models import ComputeNode, Instance, Service
from cells.db.engine import Database
from cells.db.types import utcnow
from scheduler.host_state import COMPUTE_BINARY, HostState


def cell_conf(db_url: str = "sqlite://", broker_url: str = "fake:///test", cell_type: str = "compute",
              **scheduler: Any) -> CellConfig:
    """A validated configuration of a compute (or API) cell."""
    cell: dict[str, Any] = {"name": "cell1" if cell_type == "compute" else "top", "type": cell_type}
    if cell_type != "api":
        cell["parent"] = {"path": "top", "broker_url": "fake:///parent"}
    data: dict[str, Any] = {"cell": cell, "database": {"url": db_url}, "broker": {"url": broker_url},
                            "state_dir": "/tmp/cloud-test"}
    if scheduler:
        data["scheduler"] = scheduler
    return config_mod.parse(data)


def host(host_id: int, **kw: Any) -> HostState:
    """An up, enabled host of 16 cores, 64 GB RAM and 1 TB disk unless told otherwise."""
    values: dict[str, Any] = dict(id=host_id, host=f"host{host_id}", vcpus=16, memory_mb=65536,
                                  local_gb=1000, last_seen_at=utcnow())
    values.update(kw)
    return HostState(**values)


def flavor(vcpus: int = 1, ram: int = 512, disk: int = 5) -> dict[str, Any]:
    return {"id": "f1", "name": "m1.test", "vcpus": vcpus, "ram": ram, "disk": disk, "ephemeral": 0,
            "swap": 0, "extra_specs": {}}


def build_request(fl: dict[str, Any] | None = None, uuid: str | None = None) -> dict[str, Any]:
    """A build request as the API sends it."""
    return {
        "instance": {"uuid": uuid or str(uuid_mod.uuid4()), "project_id": "p1", "user_id": "u1",
                     "name": "vm", "flavor": fl or flavor(), "image_ref": "img-1", "key_name": None,
                     "metadata": {"k": "v"}, "availability_zone": None},
        "image": {"id": "img-1", "name": "cirros", "disk_format": "qcow2", "container_format": "bare",
                  "min_disk": 0, "min_ram": 0, "size": 1024, "checksum": "x", "properties": {}},
    }


def add_host(db: Database, name: str, vcpus: int = 16, memory_mb: int = 65536, local_gb: int = 1000,
             disabled: bool = False, last_seen_at: dt.datetime | None = None,
             cpu_allocation_ratio: float = 4.0) -> int:
    """Insert a compute node and its compute service; returns the node's id."""
    with db.session() as s:
        node = ComputeNode(host=name, hypervisor_hostname=name, hypervisor_type="QEMU", vcpus=vcpus,
                           memory_mb=memory_mb, local_gb=local_gb,
                           cpu_allocation_ratio=cpu_allocation_ratio)
        s.add(node)
        s.add(Service(host=name, binary=COMPUTE_BINARY, identity=str(uuid_mod.uuid4()),
                      disabled=disabled, last_seen_at=last_seen_at or utcnow()))
        s.flush()
        return node.id


def nodes(db: Database) -> dict[str, Any]:
    with db.session() as s:
        return {r.host: r for r in s.execute(sa.select(ComputeNode.__table__)).all()}


def instances(db: Database) -> dict[str, Any]:
    with db.session() as s:
        return {r.uuid: r for r in s.execute(sa.select(Instance.__table__)).all()}


def assert_usage_matches_instances(db: Database) -> None:
    """Every host's counters equal the sums over its instance rows, and stay within its limits."""
    rows = instances(db)
    for name, node in nodes(db).items():
        mine = [r for r in rows.values() if r.host == name and not r.deleted]
        assert node.vcpus_used == sum(r.vcpus for r in mine), name
        assert node.memory_mb_used == sum(r.memory_mb for r in mine), name
        assert node.local_gb_used == sum(r.root_gb for r in mine), name
        assert node.running_vms == len(mine), name
        assert node.vcpus_used <= node.vcpus * node.cpu_allocation_ratio, name
        assert node.memory_mb_used <= node.memory_mb * node.ram_allocation_ratio, name
        assert node.local_gb_used <= node.local_gb * node.disk_allocation_ratio, name


def add_capacity(db: Database, path: str, ram_mb_free: int = 65536, vcpus_free: int = 64,
                 disk_gb_free: int = 1000, largest_free_ram_mb: int | None = None,
                 largest_free_vcpus: int | None = None, hosts_up: int = 1,
                 reported_at: dt.datetime | None = None) -> None:
    """Store a compute cell's capacity report in the API cell's child_capacity table."""
    with db.session() as s:
        s.merge(ChildCapacity(
            cell_path=path, vcpus_free=vcpus_free, ram_mb_free=ram_mb_free, disk_gb_free=disk_gb_free,
            vcpus_total=vcpus_free, ram_mb_total=ram_mb_free, disk_gb_total=disk_gb_free,
            hosts_up=hosts_up, hosts_total=hosts_up, hs06_free=0.0,
            largest_free_ram_mb=ram_mb_free if largest_free_ram_mb is None else largest_free_ram_mb,
            largest_free_vcpus=vcpus_free if largest_free_vcpus is None else largest_free_vcpus,
            capabilities={}, reported_at=reported_at or utcnow().replace(microsecond=0)))


def add_index_row(db: Database, request: dict[str, Any], deleted: bool = False) -> None:
    """Insert the API's index row for a build request (building/scheduling, no cell yet)."""
    inst = request["instance"]
    with db.session() as s:
        s.add(InstanceIndex(uuid=inst["uuid"], project_id=inst["project_id"], user_id=inst["user_id"],
                            name=inst["name"], vm_state=states.BUILDING, task_state=states.SCHEDULING,
                            flavor=inst["flavor"], image_ref=inst["image_ref"], metadata_={},
                            version=0, deleted=deleted))


def index_rows(db: Database) -> dict[str, Any]:
    with db.session() as s:
        return {r.uuid: r for r in s.execute(sa.select(InstanceIndex.__table__)).all()}


class Recorder:
    """Stands in for an RPC client: records every call, thread-safely."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self._lock = threading.Lock()

    def __getattr__(self, method: str) -> Any:
        def record(ctxt: RequestContext, *args: Any, **kwargs: Any) -> None:
            with self._lock:
                self.calls.append((method, args, kwargs))
        return record

    def of(self, method: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        return [(a, k) for m, a, k in self.calls if m == method]


class StatementCounter:
    """Counts the SQL statements an engine sends, by first keyword."""

    def __init__(self, db: Database) -> None:
        self.statements: list[str] = []
        sa.event.listen(db.engine, "before_cursor_execute", self._on_execute)

    def _on_execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement.split(None, 1)[0].upper())

    def reset(self) -> None:
        self.statements.clear()
