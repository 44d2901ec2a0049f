"""/v3/users/<user_id>/application_credentials: create, list, show and delete.

A credential delegates some of its owner's roles on the project of the
token that creates it. Its secret is generated unless given, stored only as
a scrypt hash (made outside any transaction) and returned once, in the
create response. A token made from a restricted application credential
can neither create nor delete credentials (Keystone's rule).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any

import flask
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.db.identity_models import ApplicationCredential, Role, User
from cells.db.types import utcnow
from cells.exception import BadRequest, Forbidden, NotFound, Unauthorized
from identity import lookup, passwords, revocation, roles, tokens
from identity.handlers.common import body, created, no_content, transaction
from identity.schemas import application_credentials as schemas
from identity.service import caller, current
from identity.views import application_credentials as views
from identity.views.links import collection

LOG = logging.getLogger(__name__)

bp = flask.Blueprint("application_credentials", __name__)

SECRET_BYTES = 64
RESTRICTED = ("Using method 'application_credential' is not allowed for managing additional "
              "application credentials.")


def _role_names(session: Session, rows: list[ApplicationCredential]) -> dict[str, str]:
    ids = {r for row in rows for r in row.roles}
    if not ids:
        return {}
    return dict(session.execute(sa.select(Role.id, Role.name).where(Role.id.in_(ids))).all())


def _refuse_restricted(session: Session) -> None:
    """Raise Forbidden if the caller's token was made from a restricted application credential."""
    service = current()
    token = flask.request.headers.get("X-Auth-Token") or ""
    try:
        claims = tokens.decode(service.conf, service.keys, token)
    except Unauthorized:
        return  # not a token of this service, so not one of its application credentials
    app_cred_id = claims.get("app_cred_id")
    if app_cred_id is None and "application_credential" not in (claims.get("methods") or []):
        return
    row = session.get(ApplicationCredential, app_cred_id) if isinstance(app_cred_id, str) else None
    if row is None or not row.unrestricted:
        raise Forbidden(RESTRICTED)


def _expiry(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
        if when.tzinfo is not None:
            when = when.astimezone(dt.UTC).replace(tzinfo=None)
    except (ValueError, OverflowError) as exc:  # overflow: an offset past year 1 or 9999 in UTC
        raise BadRequest("Invalid input for field 'expires_at': expected an ISO 8601 date and time.") from exc
    if when <= utcnow():
        raise BadRequest("Invalid input for field 'expires_at': the expiration time must be in the future.")
    return when


def _delegated(session: Session, user_id: str, project_id: str, token_roles: list[str],
               wanted: list[dict[str, Any]]) -> list[str]:
    """The role ids to delegate: those asked for (default: all the caller may delegate)."""
    held = roles.on_project(session, user_id, project_id)
    # Only roles the user holds now and the token carries: a scoped-down token cannot widen itself.
    delegable = {role_id: name for role_id, name in held if name in token_roles}
    if not wanted:
        if not delegable:
            raise BadRequest(f"Invalid application credential: you hold no role on project {project_id}.")
        return sorted(delegable, key=delegable.__getitem__)
    chosen: list[str] = []
    for ref in wanted:
        column = Role.id if "id" in ref else Role.name
        key = ref["id"] if "id" in ref else ref["name"]
        role_id = session.scalar(sa.select(Role.id).where(column == key))
        if role_id is None:
            raise NotFound(f"Could not find role: {key}.")
        if role_id not in delegable:
            raise BadRequest(f"Invalid application credential: you do not hold role {key} on project "
                             f"{project_id}.")
        if role_id not in chosen:
            chosen.append(role_id)
    return chosen


@bp.post("/v3/users/<user_id>/application_credentials")
def create_application_credential(user_id: str) -> tuple[flask.Response, int]:
    """Create a credential for the caller on its token's project; 201 with the secret, shown this once."""
    data = body(schemas.CREATE)["application_credential"]
    if data.get("access_rules"):
        raise BadRequest("Access rules are not supported by this service.")
    ctx = caller()
    if ctx.user_id != user_id:
        raise Forbidden("Cannot create an application credential for another user.")
    project_id = ctx.project_id
    if not project_id:
        raise BadRequest("An application credential is made for the project of the token: "
                         "authenticate with a project-scoped token.")
    expires_at = _expiry(data.get("expires_at"))
    secret = data.get("secret") or secrets.token_urlsafe(SECRET_BYTES)
    secret_hash = passwords.hash_password(secret, current().conf.password_hash_cost)

    def create(session: Session) -> dict[str, Any]:
        _refuse_restricted(session)
        lookup.require(session, User, user_id)
        role_ids = _delegated(session, user_id, project_id, ctx.roles, data.get("roles") or [])
        lookup.unique_name(session, ApplicationCredential, data["name"], user_id=user_id)
        row = ApplicationCredential(id=lookup.new_id(), name=data["name"],
                                    description=data.get("description"),
                                    user_id=user_id, project_id=project_id, secret_hash=secret_hash,
                                    roles=role_ids, unrestricted=data.get("unrestricted", False),
                                    expires_at=expires_at)
        session.add(row)
        session.flush()
        return views.application_credential(row, _role_names(session, [row]), secret)

    credential = transaction(create, f"An application credential named {data['name']!r} already exists.")
    LOG.info("created application credential %s for user %s on project %s", credential["id"], user_id,
             project_id)
    return created({"application_credential": credential})


@bp.get("/v3/users/<user_id>/application_credentials")
def list_application_credentials(user_id: str) -> flask.Response:
    """The user's credentials (never their secrets), filtered by ``name``."""
    name = flask.request.args.get("name")

    def load(session: Session) -> list[dict[str, Any]]:
        lookup.require(session, User, user_id)
        stmt = sa.select(ApplicationCredential).where(ApplicationCredential.user_id == user_id)
        if name is not None:
            stmt = stmt.where(ApplicationCredential.name == name)
        rows = list(session.scalars(stmt.order_by(ApplicationCredential.name)))
        names = _role_names(session, rows)
        return [views.application_credential(row, names) for row in rows]

    return flask.jsonify(collection("application_credentials", transaction(load)))


def _owned(session: Session, user_id: str, credential_id: str) -> ApplicationCredential:
    row = session.get(ApplicationCredential, credential_id)
    if row is None or row.user_id != user_id:
        raise NotFound(f"Could not find application credential: {credential_id}.")
    return row


@bp.get("/v3/users/<user_id>/application_credentials/<application_credential_id>")
def show_application_credential(user_id: str, application_credential_id: str) -> flask.Response:
    def load(session: Session) -> dict[str, Any]:
        row = _owned(session, user_id, application_credential_id)
        return views.application_credential(row, _role_names(session, [row]))

    return flask.jsonify({"application_credential": transaction(load)})


@bp.delete("/v3/users/<user_id>/application_credentials/<application_credential_id>")
def delete_application_credential(user_id: str, application_credential_id: str) -> tuple[str, int]:
    """Delete a credential and revoke every token made with it."""
    ttl = current().conf.token_ttl

    def delete(session: Session) -> None:
        _refuse_restricted(session)
        _owned(session, user_id, application_credential_id)
        session.execute(sa.delete(ApplicationCredential).where(
            ApplicationCredential.id == application_credential_id))
        revocation.record(session, ttl, application_credential_id=application_credential_id)

    transaction(delete)
    LOG.info("deleted application credential %s of user %s", application_credential_id, user_id)
    return no_content()
