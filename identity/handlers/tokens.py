"""POST, GET (and HEAD), DELETE /v3/auth/tokens: issue, validate and revoke tokens."""

from __future__ import annotations

import logging
import time
from typing import Any

import flask

from cells.context import RequestContext
from cells.exception import BadRequest, Forbidden, NotFound, Unauthorized
from identity import methods, revocation, tokens
from identity.request_counts import CALLER_KEY, login_caller
from identity.schemas import validate
from identity.schemas.tokens import AUTH
from identity.service import IdentityService, caller, current
from identity.views import tokens as views

LOG = logging.getLogger(__name__)

bp = flask.Blueprint("tokens", __name__)


def _catalog(service: IdentityService) -> list[dict[str, Any]] | None:
    return None if "nocatalog" in flask.request.args else service.catalog


def _subject_claims(service: IdentityService, caller: RequestContext) -> dict[str, Any]:
    """Decode X-Subject-Token; the caller must be an admin, a service, or its owner."""
    token = flask.request.headers.get("X-Subject-Token")
    if not token:
        raise BadRequest("The X-Subject-Token header is required.")
    try:
        claims = tokens.decode(service.conf, service.keys, token)
    except Unauthorized as exc:
        raise NotFound(f"Could not find token: {exc.message}") from exc
    if not (caller.is_admin or caller.is_service or caller.user_id == claims["sub"]):
        raise Forbidden("You are not authorized to perform the requested action on another user's token.")
    return claims


@bp.post("/v3/auth/tokens")
def issue() -> tuple[flask.Response, int, dict[str, str]]:
    """Authenticate (password, token or application credential); 201 with the token in X-Subject-Token."""
    service = current()
    body = flask.request.get_json(force=True, silent=True)
    if body is None:
        raise BadRequest("The request body is not valid JSON.")
    validate(AUTH, body)
    # Logins are counted for the user the body names, whether or not they succeed (request counts).
    flask.request.environ[CALLER_KEY] = login_caller(service.conf.path, body["auth"])
    # Issued as of now, before anything is read: a revocation recorded while we check the password
    # or read the roles (say, the password changed meanwhile) must catch the token.
    started = time.time()
    subject = methods.authenticate(service, body["auth"])
    issued = tokens.issue(service.conf, service.keys, subject, now=started)
    flask.request.environ[CALLER_KEY] = {"issuer": service.conf.path, "user_id": subject.user_id,
                                         "user_name": subject.user_name,
                                         "project_id": subject.project.id if subject.project else None}
    LOG.info("issued token for user %s project %s by %s audit_id %s", subject.user_id,
             subject.project.id if subject.project else "-", "+".join(subject.methods),
             issued.claims["audit_ids"][0])
    return (flask.jsonify(views.token(subject, issued.claims, _catalog(service))), 201,
            {"X-Subject-Token": issued.token})


@bp.get("/v3/auth/tokens")
def check() -> tuple[flask.Response, int, dict[str, str]]:
    """Validate X-Subject-Token; 404 if it is invalid, expired or revoked."""
    service = current()
    claims = _subject_claims(service, caller())
    if methods.is_revoked(service, claims):
        raise NotFound("Could not find token: it has been revoked.")
    subject = tokens.subject_from_claims(claims)
    token = flask.request.headers["X-Subject-Token"]
    return flask.jsonify(views.token(subject, claims, _catalog(service))), 200, {"X-Subject-Token": token}


@bp.delete("/v3/auth/tokens")
def revoke() -> tuple[str, int]:
    """Revoke X-Subject-Token; 204."""
    service = current()
    claims = _subject_claims(service, caller())
    service.db.transaction(lambda session: revocation.revoke_token(session, service.conf.token_ttl, claims))
    service.revocations.refresh()  # this process's verifier refuses it from now on
    LOG.info("revoked token audit_id %s of user %s", (claims.get("audit_ids") or ["-"])[0], claims["sub"])
    return "", 204
