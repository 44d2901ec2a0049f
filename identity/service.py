"""What the identity app's handlers share: configuration, database, keys, verifier, catalog."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import flask

from cells.config import CellConfig
from cells.db.engine import Database
from identity.auth import LockoutPolicy
from identity.keys import KeyRepository
from identity.middleware import TokenVerifier

EXTENSION = "cloud.identity"


@dataclass(frozen=True)
class IdentityService:
    conf: CellConfig
    db: Database
    keys: KeyRepository
    verifier: TokenVerifier  # verifies callers' X-Auth-Token against the local keys
    catalog: list[dict[str, Any]]
    lockout: LockoutPolicy


def current() -> IdentityService:
    """Return the service of the app handling the current request."""
    service: IdentityService = flask.current_app.extensions[EXTENSION]
    return service
