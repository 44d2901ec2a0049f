"""Fixtures: a fake cloud on a loopback port and a clouds.yaml pointing at it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cells.config import Endpoint
from cells.service import WsgiServer
from cloudctl.client import Client
from tests.unit.cloudctl.fakecloud import FakeCloud
from tests.unit.cloudctl.identitycloud import identity_cloud  # noqa: F401 - the real identity, served


class _Slot:
    """Serves whichever FakeCloud the current test installed (one server for the whole session)."""

    def __init__(self) -> None:
        self.app: FakeCloud | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        assert self.app is not None
        return self.app(environ, start_response)


@pytest.fixture(scope="session")
def _fake_server() -> Iterator[tuple[_Slot, str]]:
    slot = _Slot()
    server = WsgiServer("fake-cloud", slot, Endpoint("127.0.0.1", 0, "", threads=4))
    server.start()
    yield slot, f"http://127.0.0.1:{server.server.bind_addr[1]}"
    server.stop()


@pytest.fixture
def fake_cloud(_fake_server: tuple[_Slot, str]) -> Iterator[FakeCloud]:
    """A fresh FakeCloud served on loopback; its ``base`` is the http://127.0.0.1:PORT it is at."""
    slot, base = _fake_server
    slot.app = FakeCloud()
    slot.app.base = base
    yield slot.app
    slot.app = None


@pytest.fixture
def clouds_yaml(tmp_path: Path, fake_cloud: FakeCloud, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A clouds.yaml with cloud 'fake' (and the OS_* environment cleared so only it counts)."""
    for var in ("OS_CLOUD", "OS_AUTH_URL", "OS_PASSWORD", "OS_USERNAME", "OS_PROJECT_NAME",
                "OS_CLIENT_CONFIG_FILE", "OS_CLIENT_SECURE_FILE"):
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"fake": {
        "auth": {"auth_url": f"{fake_cloud.base}/identity/v3", "username": "admin", "password": "secret",
                 "project_name": "admin", "user_domain_name": "Default", "project_domain_name": "Default"},
        "region_name": "RegionOne"}}}))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(path))
    return path


@pytest.fixture
def client(clouds_yaml: Path) -> Client:
    return Client.from_cloud("fake", str(clouds_yaml))
