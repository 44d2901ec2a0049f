"""Fixtures of the image service tests: signed tokens, cell configurations, apps on a tmp store."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cells import config as config_mod
from cells.config import CellConfig
from cells.service import WsgiServer
from identity.key_sources import StaticKeySource
from identity.middleware import TokenVerifier

KID = "test-key"
PROJECT_A = "a" * 32
PROJECT_B = "b" * 32


class Signer:
    """Issues tokens as the identity service would, signed with one test key."""

    def __init__(self) -> None:
        self.key = Ed25519PrivateKey.generate()

    def verifier(self, conf: CellConfig) -> TokenVerifier:
        return TokenVerifier(conf, key_source=StaticKeySource({KID: self.key.public_key()}))

    def token(self, issuer: str = "top", audience: list[str] | None = None,
              project_id: str | None = PROJECT_A, roles: list[str] | None = None,
              user_id: str | None = None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer, "aud": audience or [issuer], "sub": user_id or uuid.uuid4().hex,
            "name": "user", "domain_id": "default", "project_id": project_id,
            "project_name": f"project-{project_id}", "project_domain_id": "default",
            "roles": ["member", "reader"] if roles is None else roles, "methods": ["password"],
            "iat": now, "exp": now + 3600, "jti": uuid.uuid4().hex, "audit_ids": [uuid.uuid4().hex[:22]],
        }
        return jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": KID})

    def headers(self, **kwargs: Any) -> dict[str, str]:
        return {"X-Auth-Token": self.token(**kwargs)}


@pytest.fixture
def signer() -> Signer:
    return Signer()


def cell_config(db_url: str, store_dir: str, *, name: str = "top", parent: str | None = None,
                listen: str = "127.0.0.1:0", master_url: str | None = None,
                trusted: list[dict[str, Any]] | None = None, cache_max_bytes: int | None = None,
                threads: int = 8) -> CellConfig:
    """An API cell (no ``parent``) or a compute cell with its image service's settings."""
    images: dict[str, Any] = {"listen": listen, "public_url": f"http://{listen}", "store_dir": store_dir,
                              "threads": threads}
    if master_url:
        images["master_url"] = master_url
    if cache_max_bytes is not None:
        images["cache_max_bytes"] = cache_max_bytes
    cell: dict[str, Any] = {"name": name, "type": "compute" if parent else "api"}
    if parent:
        cell["parent"] = {"path": parent, "broker_url": "fake:///parent"}
    data: dict[str, Any] = {"cell": cell, "database": {"url": db_url},
                            "broker": {"url": f"fake:///{uuid.uuid4().hex[:8]}"}, "images": images}
    if trusted:
        data["auth"] = {"trusted_issuers": trusted}
    return config_mod.parse(data)


@pytest.fixture
def master(sqlite_db, tmp_path, signer) -> Callable[..., Any]:
    """Factory: (app, conf, store_dir) of a master image service on a fresh SQLite database."""

    def make(**kwargs: Any) -> Any:
        from images.app import create_app

        db = sqlite_db("api")
        store_dir = str(tmp_path / f"store-{uuid.uuid4().hex[:6]}")
        conf = cell_config(db.url, store_dir, **kwargs)
        app = create_app(conf, db=db, verifier=signer.verifier(conf))
        return app, conf, store_dir

    return make


# The compute cell whose cache the ``cloud`` fixture runs.
CELL = "top!cell1"


class Counting:
    """Wraps a WSGI app and records the (method, path) of every request it serves."""

    def __init__(self, app) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.seen: list[tuple[str, str]] = []

    def __call__(self, environ, start_response):
        with self.lock:
            self.seen.append((environ["REQUEST_METHOD"], environ["PATH_INFO"]))
        return self.app(environ, start_response)

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for _m, p in self.seen if p == path)


def serve(name, app, conf):
    server = WsgiServer(name, app, conf.images)
    server.start()
    host, port = server.server.bind_addr
    return server, f"http://{host}:{port}"


@pytest.fixture
def cloud(sqlite_db, tmp_path, signer):
    """A master (API cell 'top') and the cache of compute cell 'top!cell1', both listening."""
    from images.app import create_app

    master_db = sqlite_db("api")
    master_conf = cell_config(master_db.url, str(tmp_path / "master"), trusted=[
        {"issuer": CELL, "jwks_url": "http://127.0.0.1:1/unused", "roles": ["service"]}])
    master_app = create_app(master_conf, db=master_db, verifier=signer.verifier(master_conf))
    counting = Counting(master_app)
    master_server, master_url = serve("master-images", counting, master_conf)

    cache_db = sqlite_db("compute")
    cache_dir = str(tmp_path / "cache")
    cache_conf = cell_config(cache_db.url, cache_dir, name="cell1", parent="top", master_url=master_url,
                             threads=32)

    def service_token() -> str:
        return signer.token(issuer=CELL, audience=[CELL, "top"], project_id="service", roles=["service"])

    cache_app = create_app(cache_conf, db=cache_db, verifier=signer.verifier(cache_conf),
                           master_token=service_token)
    cache_server, cache_url = serve("cell-images", cache_app, cache_conf)
    service = {"X-Auth-Token": signer.token(issuer=CELL, project_id="service", roles=["service"])}
    try:
        yield {"master": master_app.test_client(), "master_url": master_url, "counting": counting,
               "cache_url": cache_url, "cache_dir": cache_dir, "service": service}
    finally:
        cache_server.stop()
        master_server.stop()


def upload_to_master(client, headers, data, **body):
    body = {"name": "cirros", "disk_format": "qcow2", "container_format": "bare", **body}
    img = client.post("/v2/images", json=body, headers=headers).get_json()
    response = client.put(f"/v2/images/{img['id']}/file", data=data,
                          headers={**headers, "Content-Type": "application/octet-stream"})
    assert response.status_code == 204
    return img["id"]
