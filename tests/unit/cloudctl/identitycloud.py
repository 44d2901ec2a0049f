"""Fixtures: the real identity app (SQLite, bootstrapped) on a loopback port, and clouds.yaml for it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from cells.config import CellConfig, Endpoint
from cells.service import WsgiServer
from identity.app import create_app
from identity.bootstrap import bootstrap
from tests.conftest import write_cell_config

ADMIN_PASSWORD = "admin-secret-1"
DEMO_PASSWORD = "demo-secret-1"
SERVICE_PASSWORD = "service-secret-1"
CLEARED = ("OS_CLOUD", "OS_AUTH_URL", "OS_PASSWORD", "OS_USERNAME", "OS_PROJECT_NAME", "OS_PROJECT_ID",
           "OS_CLIENT_CONFIG_FILE", "OS_CLIENT_SECURE_FILE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class IdentityCloud:
    """A served identity app: its URL, cell config (and its file), ids of the bootstrapped data."""

    url: str
    conf: CellConfig
    config_file: str
    ids: dict[str, Any]
    clouds_yaml: Path

    def token(self, user: str = "admin", password: str = ADMIN_PASSWORD, project: str = "admin") -> str:
        """A token issued straight by the API (not through cloudctl), for checks."""
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
        response = requests.post(f"{self.url}/v3/auth/tokens", json=body, timeout=10)
        response.raise_for_status()
        return response.headers["X-Subject-Token"]

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """An admin request straight to the API."""
        headers = {"X-Auth-Token": self.token(), **kwargs.pop("headers", {})}
        return requests.request(method, f"{self.url}/v3{path}", headers=headers, timeout=10, **kwargs)

    def add_cloud(self, name: str, user: str, password: str, project: str) -> None:
        """Add a cloud for another user to clouds.yaml."""
        doc = yaml.safe_load(self.clouds_yaml.read_text())
        doc["clouds"][name] = _cloud(self.url, user, password, project)
        self.clouds_yaml.write_text(yaml.safe_dump(doc))


def _cloud(url: str, user: str, password: str, project: str) -> dict[str, Any]:
    return {"auth": {"auth_url": f"{url}/v3", "username": user, "password": password, "project_name": project,
                     "user_domain_name": "Default", "project_domain_name": "Default"},
            "region_name": "RegionOne"}


@pytest.fixture
def identity_cloud(tmp_path: Path, sqlite_db: Any,
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[IdentityCloud]:
    """The API cell's identity on 127.0.0.1; clouds.yaml has 'admin' (the default) and 'demo'."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    secret = tmp_path / "top-service-password"
    secret.write_text(SERVICE_PASSWORD + "\n")
    config_file = str(tmp_path / "top.yaml")
    conf = write_cell_config(config_file, {
        "cell": {"name": "top", "type": "api"},
        "database": {"url": f"sqlite:///{tmp_path}/top.db"},
        "broker": {"url": "fake:///top"},
        "state_dir": str(tmp_path / "top"),
        "auth": {"identity_url": url,
                 "service_user": {"name": "top-service", "password_file": str(secret)}},
        "identity": {"listen": f"127.0.0.1:{port}", "public_url": url, "password_hash_cost": 10,
                     "key_repository": str(tmp_path / "top" / "keys")},
    })
    db = sqlite_db("api")
    ids = bootstrap(conf, db, ADMIN_PASSWORD, DEMO_PASSWORD, {"top-service": SERVICE_PASSWORD})
    server = WsgiServer("identity", create_app(conf, db), Endpoint("127.0.0.1", port, url, threads=4))
    server.start()
    for var in CLEARED:
        monkeypatch.delenv(var, raising=False)
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(yaml.safe_dump({"clouds": {
        "admin": _cloud(url, "admin", ADMIN_PASSWORD, "admin"),
        "demo": _cloud(url, "demo", DEMO_PASSWORD, "demo")}}))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds))
    monkeypatch.setenv("OS_CLOUD", "admin")
    try:
        yield IdentityCloud(url, conf, config_file, ids, clouds)
    finally:
        server.stop()
        db.dispose()
