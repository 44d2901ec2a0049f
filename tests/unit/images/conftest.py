"""Fixtures of the image service tests: signed tokens, cell configurations, apps on a tmp store."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cells import config as config_mod
from cells.config import CellConfig
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
