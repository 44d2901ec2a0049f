"""Issue and decode the identity service's own tokens: JWTs signed with the primary Ed25519 key."""

from __future__ import annotations

import base64
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from cells.config import CellConfig
from cells.exception import Unauthorized
from identity.keys import KeyRepository
from identity.middleware import ALGORITHM, MAX_TOKEN_BYTES, REQUIRED_CLAIMS


@dataclass(frozen=True)
class ProjectRef:
    id: str
    name: str
    domain_id: str
    domain_name: str


@dataclass(frozen=True)
class Subject:
    """Who a token speaks for: the user, the project it is scoped to and the roles held there."""

    user_id: str
    user_name: str
    domain_id: str
    domain_name: str
    project: ProjectRef | None
    roles: tuple[tuple[str, str], ...]  # (role id, role name)
    methods: tuple[str, ...] = ("password",)

    @property
    def role_names(self) -> list[str]:
        return [name for _, name in self.roles]


@dataclass(frozen=True)
class IssuedToken:
    token: str
    claims: dict[str, Any]


def audiences(conf: CellConfig) -> list[str]:
    """The cells whose services accept this cell's tokens: this cell only.

    Other cells accept them only where they list this cell among their
    trusted issuers, for the services and roles listed there.
    """
    return [conf.path]


def new_audit_id() -> str:
    """A Keystone-style audit id: 16 random bytes, unpadded base64url."""
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode("ascii")


def issue(conf: CellConfig, keys: KeyRepository, subject: Subject,
          now: float | None = None, ttl: int | None = None) -> IssuedToken:
    """Sign a token for ``subject`` with the primary key; returns the token and its claims."""
    issued_at = int(now if now is not None else time.time())
    project = subject.project
    claims: dict[str, Any] = {
        "iss": conf.path,
        "aud": audiences(conf),
        "sub": subject.user_id,
        "name": subject.user_name,
        "domain_id": subject.domain_id,
        "project_id": project.id if project else None,
        "project_name": project.name if project else None,
        "project_domain_id": project.domain_id if project else None,
        "roles": subject.role_names,
        "methods": list(subject.methods),
        "iat": issued_at,
        "exp": issued_at + (ttl if ttl is not None else conf.token_ttl),
        "jti": uuid.uuid4().hex,
        "audit_ids": [new_audit_id()],
    }
    kid, private = keys.signing_key()
    token = jwt.encode(claims, private, algorithm=ALGORITHM, headers={"kid": kid})
    return IssuedToken(token, claims)


def decode(conf: CellConfig, keys: KeyRepository, token: str) -> dict[str, Any]:
    """Return the claims of a token this cell issued; raises Unauthorized saying why not."""
    if len(token) > MAX_TOKEN_BYTES:
        raise Unauthorized(f"The token is larger than {MAX_TOKEN_BYTES} bytes.")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise Unauthorized("The token is malformed.") from exc
    if header.get("alg") != ALGORITHM:
        raise Unauthorized(f"The token is not signed with {ALGORITHM}.")
    kid = header.get("kid")
    public = keys.public_key(kid) if isinstance(kid, str) else None
    if public is None:
        raise Unauthorized("The token is not signed with a key of this identity service.")
    try:
        return jwt.decode(token, public, algorithms=[ALGORITHM], audience=conf.path, issuer=conf.path,
                          options={"require": list(REQUIRED_CLAIMS)})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The token has expired.") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"The token is invalid ({type(exc).__name__}).") from exc
