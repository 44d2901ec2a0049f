"""POST /v3/auth/tokens: dispatch to the method asked for (password, token, application credential).

- ``password``: identity.auth checks the password, then the scope is granted.
- ``token`` (rescoping): a valid, unrevoked token of this service is
  exchanged for one with another scope; the user's roles there are read
  afresh, the new token keeps the original's audit chain and never outlives
  it. No password hash is computed, so it is the fast way for a client to
  hop between projects.
- ``application_credential``: a secret a user gave a script; the token is
  scoped to the credential's project with the credential's roles, as long as
  the user still holds them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.db.identity_models import ApplicationCredential, Domain, User
from cells.db.types import utcnow
from cells.exception import BadRequest, Unauthorized
from identity import auth, passwords, revocation, roles, scope, tokens
from identity.revocation_list import TokenFacts
from identity.service import IdentityService
from identity.tokens import Subject

METHODS = ("password", "token", "application_credential")


def authenticate(service: IdentityService, body: dict[str, Any]) -> Subject:
    """Authenticate a validated ``auth`` block; raises Unauthorized or BadRequest saying why not."""
    methods = body["identity"]["methods"]
    if len(methods) != 1 or methods[0] not in METHODS:
        raise Unauthorized(f"Authentication method {'+'.join(methods)!r} is not supported; "
                           f"use one of {', '.join(METHODS)}.")
    method = methods[0]
    if method not in body["identity"]:
        raise BadRequest(f"Expecting to find {method} in identity.")
    if method == "password":
        return auth.password_subject(service.db, service.conf, service.lockout, body)
    if method == "token":
        return rescoped_subject(service, body)
    return app_cred_subject(service, body)


def is_revoked(service: IdentityService, claims: dict[str, Any]) -> bool:
    """True if a revocation event matches the token (the service's in-memory list, else the database)."""
    facts = TokenFacts.from_claims(claims)
    revocations = getattr(service, "revocations", None)
    if revocations is not None:
        # A process that has only issued tokens so far may never have loaded its events.
        revocations.start()
        return bool(revocations.is_revoked(facts))
    return bool(service.db.transaction(lambda s: revocation.is_revoked(s, facts)))


def rescoped_subject(service: IdentityService, body: dict[str, Any]) -> Subject:
    """The token method: the same user, the scope asked for (or the original one), roles read afresh."""
    try:
        claims = tokens.decode(service.conf, service.keys, body["identity"]["token"]["id"])
    except Unauthorized as exc:
        raise Unauthorized(f"The token cannot be used to authenticate: {exc.message}") from exc
    if is_revoked(service, claims):
        raise Unauthorized("The token cannot be used to authenticate: it has been revoked.")
    original = tokens.subject_from_claims(claims)
    if original.app_cred_id is not None:
        raise Unauthorized("A token made with an application credential cannot be rescoped.")
    wanted = scope.requested(body)
    if wanted.use_default:
        # No scope given: the same scope as the original token, with today's roles.
        if original.project is not None:
            wanted = scope.Requested(project={"id": original.project.id})
        elif original.domain_scope is not None:
            wanted = scope.Requested(domain={"id": original.domain_scope.id})
        else:
            wanted = scope.Requested()
    granted = service.db.transaction(lambda s: scope.resolve(s, original.user_id, wanted, None))
    methods = tuple(dict.fromkeys((*original.methods, "token")))
    audit_ids = claims.get("audit_ids") or []
    return Subject(user_id=original.user_id, user_name=original.user_name, domain_id=original.domain_id,
                   domain_name=original.domain_name, project=granted.project, domain_scope=granted.domain,
                   roles=granted.roles, methods=methods,
                   audit_chain=audit_ids[-1] if audit_ids else None, expires=original.expires)


def _find_credential(session: Session,
                     ref: dict[str, Any]) -> tuple[ApplicationCredential, User, Domain] | None:
    stmt = (sa.select(ApplicationCredential, User, Domain)
            .join(User, User.id == ApplicationCredential.user_id)
            .join(Domain, Domain.id == User.domain_id))
    if "id" in ref:
        stmt = stmt.where(ApplicationCredential.id == ref["id"])
    else:
        user_ref = ref["user"]
        stmt = stmt.where(ApplicationCredential.name == ref["name"])
        if "id" in user_ref:
            stmt = stmt.where(User.id == user_ref["id"])
        else:
            stmt = stmt.where(User.name == user_ref["name"],
                              scope.domain_filter(Domain.id, Domain.name, user_ref.get("domain"), "user"))
    row = session.execute(stmt).first()
    return (row[0], row[1], row[2]) if row else None


def _credential_scope(session: Session, credential: ApplicationCredential) -> scope.Scope:
    project = scope.find_project(session, {"id": credential.project_id})
    if project is None or not project[1]:
        raise Unauthorized("The application credential's project does not exist or is disabled.")
    held = dict(roles.on_project(session, credential.user_id, credential.project_id))
    wanted = list(credential.roles or [])
    if not wanted or any(role_id not in held for role_id in wanted):
        raise Unauthorized("The application credential's user no longer holds all of its roles "
                           "on its project.")
    return scope.Scope(project=project[0], roles=tuple(
        sorted(((role_id, held[role_id]) for role_id in wanted), key=lambda r: r[1])))


def app_cred_subject(service: IdentityService, body: dict[str, Any]) -> Subject:
    """The application_credential method: the credential's project and roles, if the secret matches."""
    if body.get("scope") is not None:
        raise Unauthorized("Application credentials cannot request a scope.")
    ref = body["identity"]["application_credential"]
    found = service.db.transaction(lambda s: _find_credential(s, ref))
    if found is None:
        passwords.dummy_verify(ref["secret"], service.conf.password_hash_cost)
        raise Unauthorized(auth.AUTH_REQUIRED)
    credential, user, domain = found
    if not passwords.verify_password(ref["secret"], credential.secret_hash):
        raise Unauthorized(auth.AUTH_REQUIRED)
    if credential.expires_at is not None and credential.expires_at <= utcnow():
        raise Unauthorized("The application credential has expired.")
    if not user.enabled or not domain.enabled:
        raise Unauthorized("The account is disabled.")
    granted = service.db.transaction(lambda s: _credential_scope(s, credential))
    expires = None
    if credential.expires_at is not None:
        expires = credential.expires_at.replace(tzinfo=dt.UTC).timestamp()
    return Subject(user_id=user.id, user_name=user.name, domain_id=domain.id, domain_name=domain.name,
                   project=granted.project, roles=granted.roles, methods=("application_credential",),
                   app_cred_id=credential.id, app_cred_name=credential.name,
                   app_cred_restricted=not credential.unrestricted, expires=expires)
