"""Fixtures of the identity tests: a cell configuration, a bootstrapped database, the app."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from cells.config import CellConfig
from cells.service import start_all, stop_all
from identity import cmd
from identity.app import create_app
from identity.auth import LockoutPolicy
from identity.bootstrap import bootstrap
from tests.conftest import write_cell_config

ADMIN_PASSWORD = "admin-secret-1"
DEMO_PASSWORD = "demo-secret-1"
SERVICE_PASSWORD = "service-secret-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _levels() -> dict[str, int]:
    return {name: logger.level for name, logger in logging.root.manager.loggerDict.items()
            if isinstance(logger, logging.Logger)}


@pytest.fixture(autouse=True)
def _restore_logging() -> Any:
    """``cloud-identity``'s main points the root logger at the (captured) stderr and quiets some
    libraries' loggers: undo it after each test, or later tests log to a stream pytest has closed
    and miss the records they look for."""
    root = logging.getLogger()
    handlers, level, levels = root.handlers[:], root.level, _levels()
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, now in _levels().items():
        if now != levels.get(name, logging.NOTSET):
            logging.getLogger(name).setLevel(levels.get(name, logging.NOTSET))


@pytest.fixture
def make_conf(tmp_path) -> Callable[..., CellConfig]:
    """Factory: a cell's configuration (API cell unless parent is given), password cost 10."""

    def make(name: str = "top", cell_type: str = "api", parent: str | None = None,
             port: int | None = None, **sections: Any) -> CellConfig:
        port = port or free_port()
        secret = tmp_path / f"{name}-service-password"
        secret.write_text(SERVICE_PASSWORD + "\n")
        cell: dict[str, Any] = {"name": name, "type": cell_type}
        if parent:
            cell["parent"] = {"path": parent, "broker_url": "fake:///parent"}
        data: dict[str, Any] = {
            "cell": cell,
            "database": {"url": f"sqlite:///{tmp_path}/{name}.db"},
            "broker": {"url": f"fake:///{name}"},
            "state_dir": str(tmp_path / name),
            "auth": {"identity_url": f"http://127.0.0.1:{port}",
                     "service_user": {"name": f"{name}-service", "password_file": str(secret)}},
            "identity": {"listen": f"127.0.0.1:{port}", "public_url": f"http://127.0.0.1:{port}",
                         "password_hash_cost": 10, "key_repository": str(tmp_path / name / "keys")},
            "api": {"listen": "127.0.0.1:18774", "public_url": "http://127.0.0.1:18774"},
            "images": {"listen": "127.0.0.1:19292", "public_url": "http://127.0.0.1:19292"},
        }
        for key, value in sections.items():
            data.setdefault(key, {}).update(value)
        return write_cell_config(str(tmp_path / f"{name}.yaml"), data)

    return make


@pytest.fixture
def conf(make_conf) -> CellConfig:
    return make_conf()


@pytest.fixture
def db(sqlite_db):
    return sqlite_db("api")


@pytest.fixture
def ids(conf, db) -> dict[str, Any]:
    """The bootstrapped identity data of the API cell: admin, demo and the cell's service account."""
    return bootstrap(conf, db, ADMIN_PASSWORD, DEMO_PASSWORD, {"top-service": SERVICE_PASSWORD})


@pytest.fixture
def app(conf, db, ids):
    return create_app(conf, db, lockout=LockoutPolicy(attempts=5, seconds=300))


@pytest.fixture
def client(app):
    return app.test_client()


def password_auth(user: str, password: str, project: str | None = None, *,
                  user_domain: dict[str, str] | None = None,
                  project_domain: dict[str, str] | None = None) -> dict[str, Any]:
    """A POST /v3/auth/tokens body for password authentication by name."""
    body: dict[str, Any] = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": user_domain or {"id": "default"}, "password": password}}}}}
    if project:
        body["auth"]["scope"] = {"project": {"name": project, "domain": project_domain or {"id": "default"}}}
    return body


def issue(client, user: str = "demo", password: str = DEMO_PASSWORD, project: str | None = "demo"):
    """POST a password authentication; returns the response."""
    return client.post("/v3/auth/tokens", json=password_auth(user, password, project))


def wait_until_serving(url: str, timeout: float = 10.0) -> None:
    """Return once ``url``/v3 answers; raises ConnectionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(url + "/v3", timeout=1)
            return
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.fixture
def served(conf, app, monkeypatch) -> Iterator[str]:
    """cloud-identity's components for ``conf`` (serving ``app``), started; yields the base URL."""
    monkeypatch.setattr(cmd, "create_app", lambda _conf: app)
    components = start_all(cmd.build(conf, None))
    url = conf.identity.public_url
    wait_until_serving(url)
    yield url
    stop_all(components)
