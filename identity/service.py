"""What the identity app's handlers share: configuration, database, keys, verifier, catalog."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import flask

from cells.config import CellConfig
from cells.context import RequestContext
from cells.db.engine import Database
from cells.exception import Unauthorized
from identity.auth import LockoutPolicy
from identity.keys import KeyRepository
from identity.middleware import TokenVerifier
from identity.revocation_local import DatabaseRevocations

EXTENSION = "cloud.identity"


@dataclass(frozen=True)
class IdentityService:
    conf: CellConfig
    db: Database
    keys: KeyRepository
    verifier: TokenVerifier  # verifies callers' X-Auth-Token against the local keys
    # this service's own revocation events, which ``verifier`` checks; refresh() after committing one
    revocations: DatabaseRevocations
    catalog: list[dict[str, Any]]
    lockout: LockoutPolicy


def current() -> IdentityService:
    """Return the service of the app handling the current request."""
    service: IdentityService = flask.current_app.extensions[EXTENSION]
    return service


def caller() -> RequestContext:
    """Return the verified caller of the current request; raises Unauthorized without one.

    The shared auth middleware leaves the context in the WSGI environ; a
    request that reached a handler without it is refused.
    """
    ctxt = flask.request.environ.get("cloud.context")
    if isinstance(ctxt, RequestContext):
        return ctxt
    token = flask.request.headers.get("X-Auth-Token")
    if not token:
        raise Unauthorized("The request you have made requires authentication.")
    verified = current().verifier.verify(token)
    flask.request.environ["cloud.context"] = verified
    return verified
