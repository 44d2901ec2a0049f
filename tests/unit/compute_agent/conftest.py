"""Fixtures of the compute agent tests: a compute cell with its real identity and image services.

The agent runs against libvirt's test driver (simulated hosts), a migrated
SQLite cell database and an in-process broker; a test RPC server on topic
``cells`` receives the updates it sends up.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from cells import rpc
from cells.config import CellConfig
from cells.context import RequestContext
from cells.db.cell_models import ComputeNode, Instance
from cells.db.engine import Database
from cells.db.types import utcnow
from cells.service import WsgiServer
from compute_agent.agent import AgentGroup
from compute_agent.instances import iso
from tests.conftest import write_cell_config

ADMIN_PASSWORD = "admin-secret-1"
SERVICE_PASSWORD = "service-secret-1"
GiB = 2**30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def qcow2_bytes(virtual_size: int = GiB, padding: int = 4096) -> bytes:
    """A qcow2 header announcing ``virtual_size`` (enough for the agent and the test driver)."""
    header = b"QFI\xfb" + struct.pack(">I", 3) + b"\0" * 16 + struct.pack(">Q", virtual_size)
    return header + b"\0" * padding


class Updates:
    """The cells daemon's side of updates_up, recording what arrives."""

    target = rpc.target("1.0")

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self._cond = threading.Condition()

    def updates_up(self, ctxt: RequestContext, updates: list[dict[str, Any]]) -> None:
        with self._cond:
            self.received.extend(updates)
            self._cond.notify_all()

    def wait_for(self, match: Callable[[dict[str, Any]], bool], timeout: float = 10.0) -> dict[str, Any]:
        """Return the first update matching ``match``; fails the test after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for update in self.received:
                    if match(update):
                        return update
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching update in {timeout}s; got {self.received}")
                self._cond.wait(left)


class Cell:
    """A compute cell for the agent: config, database, services, uploaded images, RPC sink."""

    def __init__(self, conf: CellConfig, db: Database, updates: Updates, admin_token: str) -> None:
        self.conf = conf
        self.db = db
        self.updates = updates
        self.admin_token = admin_token
        self.groups: list[AgentGroup] = []

    # --- images --------------------------------------------------------------

    def upload_image(self, data: bytes, disk_format: str = "qcow2", **properties: Any) -> dict[str, Any]:
        """Create and upload an image through the cell's image service; returns its build metadata."""
        assert self.conf.images is not None
        base = self.conf.images.public_url
        headers = {"X-Auth-Token": self.admin_token}
        body = {"name": f"img-{uuid.uuid4().hex[:6]}", "disk_format": disk_format,
                "container_format": "bare", **properties}
        created = requests.post(f"{base}/v2/images", json=body, headers=headers, timeout=10)
        assert created.status_code == 201, created.text
        image_id = created.json()["id"]
        put = requests.put(f"{base}/v2/images/{image_id}/file", data=data, timeout=10,
                           headers={**headers, "Content-Type": "application/octet-stream"})
        assert put.status_code == 204, put.text
        meta = requests.get(f"{base}/v2/images/{image_id}", headers=headers, timeout=10).json()
        assert meta["os_hash_value"] == hashlib.sha512(data).hexdigest()
        # What the API puts in a build request (no sha512: the agent looks it up itself).
        return {"id": image_id, "name": meta["name"], "disk_format": meta["disk_format"],
                "container_format": meta["container_format"], "min_disk": meta.get("min_disk", 0),
                "min_ram": meta.get("min_ram", 0), "size": meta["size"], "checksum": meta["checksum"],
                "properties": properties}

    # --- agents --------------------------------------------------------------

    def start_agents(self, hosts: list[str], **kwargs: Any) -> AgentGroup:
        from identity.service_token import ServiceToken

        group = AgentGroup(self.conf, self.db, hosts, ServiceToken(self.conf), **kwargs)
        group.start()
        self.groups.append(group)
        return group

    def stop_agents(self, group: AgentGroup) -> None:
        group.stop()
        self.groups.remove(group)

    # --- rows, as the scheduler writes them ---------------------------------------

    def schedule(self, host: str, vcpus: int = 1, ram: int = 512, disk: int = 1,
                 deadline: dt.datetime | None = None) -> dict[str, Any]:
        """Insert a building/spawning instance on ``host`` with its claim; returns the row as sent."""
        now = utcnow()
        flavor = {"id": "f1", "name": "m1.test", "vcpus": vcpus, "ram": ram, "disk": disk,
                  "ephemeral": 0, "swap": 0, "extra_specs": {}}
        row = {"uuid": str(uuid.uuid4()), "project_id": "p" * 32, "user_id": "u" * 32, "name": "vm",
               "host": host, "vm_state": "building", "task_state": "spawning", "power_state": 0,
               "flavor": flavor, "vcpus": vcpus, "memory_mb": ram, "root_gb": disk, "image_ref": "img",
               "key_name": None, "metadata": {}, "availability_zone": None, "fault": None, "version": 1,
               "task_deadline": deadline or now + dt.timedelta(seconds=600), "created_at": now,
               "updated_at": now, "launched_at": None, "terminated_at": None, "deleted": False,
               "deleted_at": None}
        nodes = ComputeNode.__table__
        with self.db.session() as session:
            session.execute(sa.insert(Instance.__table__).values(**row))
            session.execute(sa.update(nodes).where(nodes.c.host == host).values(
                vcpus_used=nodes.c.vcpus_used + vcpus, memory_mb_used=nodes.c.memory_mb_used + ram,
                local_gb_used=nodes.c.local_gb_used + disk, running_vms=nodes.c.running_vms + 1))
        return {k: iso(v) for k, v in row.items()}

    def row(self, uuid_: str) -> dict[str, Any]:
        with self.db.session() as session:
            found = session.execute(sa.select(Instance.__table__).where(
                Instance.__table__.c.uuid == uuid_)).mappings().one()
            return dict(found)

    def node(self, host: str) -> dict[str, Any]:
        with self.db.session() as session:
            return dict(session.execute(sa.select(ComputeNode.__table__).where(
                ComputeNode.__table__.c.host == host)).mappings().one())


@pytest.fixture
def cell(tmp_path, sqlite_db, fake_broker) -> Iterator[Cell]:
    """A compute cell ``top!cell1`` with real identity and image services on loopback."""
    from identity.app import create_app as identity_app
    from identity.bootstrap import bootstrap
    from images.app import create_app as images_app

    id_port, img_port = free_port(), free_port()
    secret = tmp_path / "service-password"
    secret.write_text(SERVICE_PASSWORD + "\n")
    db = sqlite_db("compute")
    conf = write_cell_config(str(tmp_path / "cell1.yaml"), {
        "cell": {"name": "cell1", "type": "compute",
                 "parent": {"path": "top", "broker_url": "fake:///parent-unused"}},
        "database": {"url": db.url},
        "broker": {"url": fake_broker},
        "state_dir": str(tmp_path / "state"),
        "auth": {"identity_url": f"http://127.0.0.1:{id_port}",
                 "service_user": {"name": "cell1-service", "password_file": str(secret)}},
        "identity": {"listen": f"127.0.0.1:{id_port}", "public_url": f"http://127.0.0.1:{id_port}",
                     "password_hash_cost": 10, "key_repository": str(tmp_path / "keys"),
                     "service_accounts_only": False},
        "images": {"listen": f"127.0.0.1:{img_port}", "public_url": f"http://127.0.0.1:{img_port}",
                   "store_dir": str(tmp_path / "image-store")},
        "compute": {"libvirt_uri": "test:///auto", "virt_type": "kvm", "heartbeat_interval": 30,
                    "service_down_time": 60, "workers": 4,
                    "simulated_host": {"cpus": 8, "memory_mb": 16384, "disk_gb": 100,
                                       "cpu_model": "Broadwell", "hs06_per_core": 12.5}},
    })
    bootstrap(conf, db, ADMIN_PASSWORD, None, {"cell1-service": SERVICE_PASSWORD})
    assert conf.identity is not None and conf.images is not None
    servers = [WsgiServer("identity", identity_app(conf, db), conf.identity),
               WsgiServer("images", images_app(conf, db), conf.images)]
    for server in servers:
        server.start()
    login = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": ADMIN_PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    response = requests.post(f"{conf.identity_url}/v3/auth/tokens", json=login, timeout=10)
    assert response.status_code == 201, response.text
    updates = Updates()
    sink = rpc.get_server(fake_broker, "cells", "test-cells", [updates])
    sink.start()
    the_cell = Cell(conf, db, updates, response.headers["X-Subject-Token"])
    yield the_cell
    for group in list(the_cell.groups):
        group.stop()
    sink.stop()
    sink.wait()
    # cheroot waits for idle keep-alive connections to close: stop both at once.
    stoppers = [threading.Thread(target=server.stop) for server in servers]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join()
