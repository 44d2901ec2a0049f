"""Issue and decode the identity service's own tokens: JWTs signed with the primary Ed25519 key."""

from __future__ import annotations

import base64
import math
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
class DomainRef:
    id: str
    name: str


@dataclass(frozen=True)
class Subject:
    """Who a token speaks for: the user, its scope (a project, a domain or none) and the roles held there.

    ``audit_chain`` is the audit id of the token this one was rescoped from
    (revoking that chain revokes both); ``expires`` caps the new token's
    expiry (a rescoped token never outlives its original).
    """

    user_id: str
    user_name: str
    domain_id: str
    domain_name: str
    project: ProjectRef | None
    roles: tuple[tuple[str, str], ...]  # (role id, role name)
    methods: tuple[str, ...] = ("password",)
    domain_scope: DomainRef | None = None
    app_cred_id: str | None = None
    app_cred_name: str | None = None
    app_cred_restricted: bool = True
    audit_chain: str | None = None
    expires: float | None = None

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
    """Sign a token for ``subject`` with the primary key; returns the token and its claims.

    ``iat`` keeps milliseconds, so a token issued right after a revocation
    event (say, a login with a password just changed) is not caught by it;
    rounded down, never up past an event recorded in the same millisecond.
    """
    issued_at = math.floor((now if now is not None else time.time()) * 1000) / 1000
    expires = int(issued_at) + (ttl if ttl is not None else conf.token_ttl)
    if subject.expires is not None:
        expires = min(expires, int(subject.expires))
    project = subject.project
    audit_ids = [new_audit_id()]
    if subject.audit_chain:
        audit_ids.append(subject.audit_chain)
    claims: dict[str, Any] = {
        "iss": conf.path,
        "aud": audiences(conf),
        "sub": subject.user_id,
        "name": subject.user_name,
        "domain_id": subject.domain_id,
        "domain_name": subject.domain_name,
        "project_id": project.id if project else None,
        "project_name": project.name if project else None,
        "project_domain_id": project.domain_id if project else None,
        "roles": subject.role_names,
        "role_ids": [role_id for role_id, _ in subject.roles],
        "methods": list(subject.methods),
        "iat": issued_at,
        "exp": expires,
        "jti": uuid.uuid4().hex,
        "audit_ids": audit_ids,
    }
    if project is not None:
        claims["project_domain_name"] = project.domain_name
    if subject.domain_scope is not None:
        claims["scope_domain_id"] = subject.domain_scope.id
        claims["scope_domain_name"] = subject.domain_scope.name
    if subject.app_cred_id is not None:
        claims["app_cred_id"] = subject.app_cred_id
        claims["app_cred_name"] = subject.app_cred_name
        claims["app_cred_restricted"] = subject.app_cred_restricted
    kid, private = keys.signing_key()
    token = jwt.encode(claims, private, algorithm=ALGORITHM, headers={"kid": kid})
    return IssuedToken(token, claims)


def subject_from_claims(claims: dict[str, Any]) -> Subject:
    """The Subject a token this service issued speaks for, from its claims alone."""
    project = None
    if claims.get("project_id"):
        project = ProjectRef(claims["project_id"], claims.get("project_name") or "",
                             claims.get("project_domain_id") or "", claims.get("project_domain_name") or "")
    domain_scope = None
    if claims.get("scope_domain_id"):
        domain_scope = DomainRef(claims["scope_domain_id"], claims.get("scope_domain_name") or "")
    names = list(claims.get("roles") or [])
    ids = list(claims.get("role_ids") or names)
    audit_ids = claims.get("audit_ids") or []
    return Subject(user_id=claims["sub"], user_name=claims.get("name") or "",
                   domain_id=claims.get("domain_id") or "", domain_name=claims.get("domain_name") or "",
                   project=project, domain_scope=domain_scope, roles=tuple(zip(ids, names, strict=False)),
                   methods=tuple(claims.get("methods") or ("password",)),
                   app_cred_id=claims.get("app_cred_id"), app_cred_name=claims.get("app_cred_name"),
                   app_cred_restricted=claims.get("app_cred_restricted") is not False,
                   audit_chain=audit_ids[-1] if len(audit_ids) > 1 else None,
                   expires=float(claims["exp"]))


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
