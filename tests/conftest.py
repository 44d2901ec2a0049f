"""Fixtures shared by every test: fresh databases, brokers and cell configurations."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pymysql
import pytest
import yaml

from cells import config as config_mod
from cells.config import CellConfig
from cells.db import migrate
from cells.db.engine import Database

MARIADB = dict(host=os.environ.get("CLOUD_TEST_MYSQL_HOST", "127.0.0.1"),
               port=int(os.environ.get("CLOUD_TEST_MYSQL_PORT", "3306")), user="root", password="")
RABBIT = os.environ.get("CLOUD_TEST_RABBIT", "guest:guest@127.0.0.1:5672")


def mariadb_available() -> bool:
    try:
        pymysql.connect(**MARIADB, connect_timeout=2).close()
        return True
    except pymysql.MySQLError:
        return False


@pytest.fixture
def sqlite_db(tmp_path) -> Callable[[str], Database]:
    """Factory: a migrated SQLite Database of the given cell type ('api' or 'compute')."""

    def make(cell_type: str = "compute") -> Database:
        url = f"sqlite:///{tmp_path}/{cell_type}-{uuid.uuid4().hex[:8]}.db"
        migrate.upgrade(url, cell_type)
        return Database(url)

    return make


@pytest.fixture
def mariadb_db() -> Iterator[Callable[[str], Database]]:
    """Factory: a fresh, migrated MariaDB database of the given cell type; dropped afterwards."""
    if not mariadb_available():
        pytest.skip("MariaDB is not reachable on 127.0.0.1:3306 (root, empty password)")
    created: list[tuple[str, Database]] = []

    def make(cell_type: str = "compute") -> Database:
        name = f"cloudtest_{uuid.uuid4().hex[:12]}"
        conn = pymysql.connect(**MARIADB)
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        conn.close()
        url = f"mysql+pymysql://root@{MARIADB['host']}:{MARIADB['port']}/{name}"
        migrate.upgrade(url, cell_type)
        db = Database(url)
        created.append((name, db))
        return db

    yield make
    for name, db in created:
        db.dispose()
        conn = pymysql.connect(**MARIADB)
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.close()


@pytest.fixture
def fake_broker() -> str:
    """A fresh in-process broker URL (its own fake:// transport)."""
    return f"fake:///{uuid.uuid4().hex[:12]}"


@pytest.fixture
def rabbit_vhost() -> Iterator[Callable[[], str]]:
    """Factory: a fresh RabbitMQ virtual host; returns its broker URL; deleted afterwards."""
    made: list[str] = []

    def make() -> str:
        vhost = f"cloudtest-{uuid.uuid4().hex[:10]}"
        for cmd in (["rabbitmqctl", "add_vhost", vhost],
                    ["rabbitmqctl", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"]):
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            if result.returncode != 0:
                pytest.skip(f"RabbitMQ is not usable: {result.stderr.strip()[:200]}")
        made.append(vhost)
        return f"rabbit://{RABBIT}/{vhost}"

    yield make
    for vhost in made:
        subprocess.run(["rabbitmqctl", "delete_vhost", vhost], capture_output=True, timeout=60)


def write_cell_config(path: str, data: dict[str, Any]) -> CellConfig:
    """Write a cell's YAML to ``path`` and return it loaded (validated)."""
    with open(path, "w") as f:
        yaml.safe_dump(data, f)
    return config_mod.load(path)


@pytest.fixture(autouse=True)
def _stop_revocation_feeds() -> Iterator[None]:
    """Verifiers built by a test poll their issuers' revocation events in threads: end them with it."""
    yield
    from identity.revocation_feed import stop_all

    stop_all()
