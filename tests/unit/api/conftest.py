"""Fixtures of the Compute API tests: an API cell on SQLite, a fake broker with recording
RPC servers for the scheduler and cells topics, tokens signed by a test key, fake images."""

from __future__ import annotations

import datetime as dt
import queue
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.app import create_app
from cells import rpc
from cells.config import CellConfig
from cells.db.api_models import ChildCapacity, Flavor, InstanceIndex
from cells.db.engine import Database
from cells.db.types import utcnow
from cells.exception import NotFound
from identity.key_sources import StaticKeySource
from identity.middleware import TokenVerifier
from tests.conftest import write_cell_config

KEY = Ed25519PrivateKey.generate()
KID = "test-key"
PUBLIC_URL = "http://api.example.test:8774"
PROJECT_A, PROJECT_B, ADMIN_PROJECT = "pa" + "0" * 30, "pb" + "0" * 30, "ad" + "0" * 30
IMAGE = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def conf(tmp_path, fake_broker) -> CellConfig:
    data = {
        "cell": {"name": "top", "type": "api", "children": [
            {"name": "cell1", "broker_url": "fake:///cell1"},
            {"name": "cell2", "broker_url": "fake:///cell2"}]},
        "database": {"url": f"sqlite:///{tmp_path}/unused.db"},
        "broker": {"url": fake_broker},
        "state_dir": str(tmp_path / "top"),
        "auth": {"identity_url": "http://127.0.0.1:1"},
        "api": {"listen": "127.0.0.1:18774", "public_url": PUBLIC_URL, "max_limit": 100},
        "images": {"listen": "127.0.0.1:19292", "public_url": "http://127.0.0.1:19292"},
    }
    return write_cell_config(str(tmp_path / "top.yaml"), data)


@pytest.fixture
def db(sqlite_db) -> Database:
    return sqlite_db("api")


def token(project_id: str | None = PROJECT_A, roles: tuple[str, ...] = ("member",), *,
          user: str = "u-alice", key: Ed25519PrivateKey = KEY, aud: str = "top",
          expires_in: int = 86400) -> str:
    """A JWT with the claims of docs/architecture.md, signed like the identity service does.

    Valid for a day by default: the module's tokens are made when the tests are collected,
    and the whole suite (integration tests first) may run longer than an hour's token.
    """
    now = int(time.time())
    claims = {"iss": "top", "aud": [aud], "sub": user, "name": user, "domain_id": "default",
              "project_id": project_id, "project_name": project_id, "project_domain_id": "default",
              "roles": list(roles), "methods": ["password"], "iat": now - 5, "exp": now + expires_in,
              "jti": uuid.uuid4().hex, "audit_ids": [uuid.uuid4().hex[:22]]}
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": KID})


def auth(project_id: str | None = PROJECT_A, roles: tuple[str, ...] = ("member",),
         **kwargs: Any) -> dict[str, str]:
    return {"X-Auth-Token": token(project_id, roles, **kwargs)}


MEMBER_A = auth()
READER_A = auth(roles=("reader",), user="u-rita")
MEMBER_B = auth(PROJECT_B, user="u-bob")
ADMIN = auth(ADMIN_PROJECT, ("admin", "member"), user="u-admin")


class Recorder:
    """An RPC endpoint that remembers every cast it receives."""

    target = rpc.target("1.0")

    def __init__(self) -> None:
        self.calls: queue.Queue[tuple[str, Any, dict[str, Any]]] = queue.Queue()

    def schedule_instances(self, ctxt: Any, requests: list[dict[str, Any]]) -> None:
        self.calls.put(("schedule_instances", ctxt, {"requests": requests}))

    def route(self, ctxt: Any, envelopes: list[dict[str, Any]]) -> None:
        self.calls.put(("route", ctxt, {"envelopes": envelopes}))

    def next(self, timeout: float = 5.0) -> tuple[str, Any, dict[str, Any]]:
        return self.calls.get(timeout=timeout)

    def assert_silent(self, wait: float = 0.3) -> None:
        with pytest.raises(queue.Empty):
            self.calls.get(timeout=wait)


@pytest.fixture
def recorders(fake_broker) -> Iterator[dict[str, Recorder]]:
    """Recording RPC servers on the cell's broker: topics 'scheduler' and 'cells'."""
    found = {"scheduler": Recorder(), "cells": Recorder()}
    servers = [rpc.get_server(fake_broker, topic, "test-host", [rec]) for topic, rec in found.items()]
    for server in servers:
        server.start()
    yield found
    for server in servers:
        server.stop()
        server.wait()


class FakeImages:
    """Image v2 documents by id; records the tokens it was asked with."""

    def __init__(self) -> None:
        self.images: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str | None, str]] = []
        self.add(IMAGE)

    def add(self, image_id: str, **fields: Any) -> dict[str, Any]:
        doc = {"id": image_id, "name": "cirros", "status": "active", "disk_format": "qcow2",
               "container_format": "bare", "min_disk": 0, "min_ram": 0, "size": 16 * 2**20,
               "checksum": "abc", "os_hash_algo": "sha512", "os_hash_value": "f" * 128,
               "visibility": "public", "os_distro": "cirros", **fields}
        self.images[image_id] = doc
        return doc

    def __call__(self, image_id: str, project_id: str | None, tok: str) -> dict[str, Any]:
        self.calls.append((image_id, project_id, tok))
        if image_id not in self.images:
            raise NotFound(f"Image {image_id} could not be found.")
        return self.images[image_id]


@pytest.fixture
def images() -> FakeImages:
    return FakeImages()


@pytest.fixture
def verifier(conf) -> TokenVerifier:
    return TokenVerifier(conf, key_source=StaticKeySource({KID: KEY.public_key()}))


@pytest.fixture
def app(conf, db, verifier, images, recorders):
    return create_app(conf, db, verifier=verifier, image_lookup=images)


@pytest.fixture
def client(app):
    return app.test_client()


def add_flavor(db: Database, flavorid: str = "1", name: str = "m1.small", **fields: Any) -> None:
    values = {"flavorid": flavorid, "name": name, "vcpus": 1, "memory_mb": 512, "root_gb": 1,
              "ephemeral_gb": 0, "swap": 0, "rxtx_factor": 1.0, "is_public": True,
              "disabled": False, "extra_specs": {}, "created_at": utcnow(), **fields}
    with db.session() as session:
        session.execute(sa.insert(Flavor.__table__).values(**values))


@pytest.fixture
def flavors(db) -> None:
    add_flavor(db, "1", "m1.small")
    add_flavor(db, "2", "m1.large", vcpus=4, memory_mb=8192, root_gb=40, swap=1024,
               extra_specs={"hw:cpu_policy": "dedicated"})
    add_flavor(db, "3", "private", is_public=False)


def add_instance(db: Database, project_id: str = PROJECT_A, *, created: dt.datetime | None = None,
                 **fields: Any) -> str:
    now = created or utcnow().replace(microsecond=0)
    values = {"uuid": str(uuid.uuid4()), "project_id": project_id, "user_id": "u-alice",
              "name": "vm", "cell_path": "top!cell1", "host": "host-001", "vm_state": "active",
              "task_state": None, "power_state": 1,
              "flavor": {"id": "1", "name": "m1.small", "vcpus": 1, "ram": 512, "disk": 1,
                         "ephemeral": 0, "swap": 0, "extra_specs": {}},
              "image_ref": IMAGE, "key_name": None, "metadata": {}, "availability_zone": None,
              "fault": None, "version": 3, "created_at": now, "updated_at": now,
              "launched_at": now, "deleted": False, **fields}
    with db.session() as session:
        session.execute(sa.insert(InstanceIndex.__table__).values(**values))
    return values["uuid"]


def index_row(db: Database, uuid_: str) -> dict[str, Any] | None:
    with db.engine.connect() as conn:
        row = conn.execute(sa.select(InstanceIndex.__table__).where(
            InstanceIndex.__table__.c.uuid == uuid_)).first()
    return dict(row._mapping) if row else None


def index_count(db: Database) -> int:
    with db.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(InstanceIndex.__table__)).scalar_one()


def add_capacity(db: Database, cell_path: str, hosts: list[dict[str, Any]], **fields: Any) -> None:
    values = {"cell_path": cell_path, "vcpus_free": 100, "ram_mb_free": 1000, "disk_gb_free": 50,
              "vcpus_total": 128, "ram_mb_total": 2048, "disk_gb_total": 100, "hosts_up": len(hosts),
              "hosts_total": len(hosts), "hs06_free": 10.0, "largest_free_ram_mb": 900,
              "largest_free_vcpus": 30, "capabilities": {"hosts": hosts},
              "reported_at": utcnow().replace(microsecond=0), **fields}
    with db.session() as session:
        session.execute(sa.insert(ChildCapacity.__table__).values(**values))


class StatementCounter:
    """Counts SQL statements sent on an engine (BEGIN/COMMIT are not statements here)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.statements: list[str] = []

    def _record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement.split(None, 1)[0].upper())

    def __enter__(self) -> StatementCounter:
        sa.event.listen(self.db.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: Any) -> None:
        sa.event.remove(self.db.engine, "before_cursor_execute", self._record)


@pytest.fixture
def count_sql(db) -> Callable[[], StatementCounter]:
    return lambda: StatementCounter(db)
