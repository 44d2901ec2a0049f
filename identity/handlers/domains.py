"""/v3/domains: create, list, show, update and delete domains (Keystone v3)."""

from __future__ import annotations

import logging
from typing import Any

import flask
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.db.identity_models import Domain
from cells.exception import Conflict, Forbidden
from identity import lookup, removal, revocation
from identity.bootstrap import DEFAULT_DOMAIN_ID
from identity.handlers.common import body, bool_filter, created, no_content, transaction
from identity.schemas import domains as schemas
from identity.service import current
from identity.views import domains as views
from identity.views.links import collection

LOG = logging.getLogger(__name__)

bp = flask.Blueprint("domains", __name__)

DEFAULT_PROTECTED = ("The default domain holds the cell's administrators and service accounts; "
                     "it cannot be disabled or deleted.")


@bp.get("/v3/domains")
def list_domains() -> flask.Response:
    """List domains, filtered by ``name`` and ``enabled``."""
    stmt = sa.select(Domain).order_by(Domain.name)
    if "name" in flask.request.args:
        stmt = stmt.where(Domain.name == flask.request.args["name"])
    enabled = bool_filter("enabled")
    if enabled is not None:
        stmt = stmt.where(Domain.enabled.is_(enabled))
    rows = transaction(lambda s: [views.domain(d) for d in s.scalars(stmt)])
    return flask.jsonify(collection("domains", rows))


@bp.post("/v3/domains")
def create_domain() -> tuple[flask.Response, int]:
    """Create a domain (``explicit_domain_id`` chooses its id); 201, 409 if the name or id is taken."""
    data = body(schemas.CREATE)["domain"]

    def create(session: Session) -> dict[str, Any]:
        domain_id = data.get("explicit_domain_id") or lookup.new_id()
        if session.get(Domain, domain_id) is not None:
            raise Conflict(f"Conflict occurred attempting to store domain - id {domain_id} is taken.")
        lookup.unique_name(session, Domain, data["name"])
        row = Domain(id=domain_id, name=data["name"], description=data.get("description"),
                     enabled=data.get("enabled", True))
        session.add(row)
        session.flush()
        return views.domain(row)

    domain = transaction(create, f"A domain named {data['name']!r} already exists.")
    LOG.info("created domain %s", domain["id"])
    return created({"domain": domain})


@bp.get("/v3/domains/<domain_id>")
def show_domain(domain_id: str) -> flask.Response:
    domain = transaction(lambda s: views.domain(lookup.get(s, Domain, domain_id)))
    return flask.jsonify({"domain": domain})


@bp.patch("/v3/domains/<domain_id>")
def update_domain(domain_id: str) -> flask.Response:
    """Rename, describe, enable or disable; disabling revokes every token of the domain."""
    data = body(schemas.UPDATE)["domain"]
    ttl = current().conf.token_ttl

    def update(session: Session) -> dict[str, Any]:
        row = lookup.get(session, Domain, domain_id)
        if "name" in data and data["name"] != row.name:
            lookup.unique_name(session, Domain, data["name"], exclude_id=domain_id)
            row.name = data["name"]
        if "description" in data:
            row.description = data["description"]
        if "enabled" in data:
            if not data["enabled"] and domain_id == DEFAULT_DOMAIN_ID:
                raise Forbidden(DEFAULT_PROTECTED)
            if row.enabled and not data["enabled"]:
                revocation.record(session, ttl, domain_id=domain_id)
            row.enabled = data["enabled"]
        session.flush()
        return views.domain(row)

    domain = transaction(update, "A domain with that name already exists.")
    LOG.info("updated domain %s", domain_id)
    return flask.jsonify({"domain": domain})


@bp.delete("/v3/domains/<domain_id>")
def delete_domain(domain_id: str) -> tuple[str, int]:
    """Delete a disabled domain with its projects, users and groups; 403 while it is enabled."""
    ttl = current().conf.token_ttl

    def delete(session: Session) -> None:
        row = lookup.get(session, Domain, domain_id)
        if domain_id == DEFAULT_DOMAIN_ID:
            raise Forbidden(DEFAULT_PROTECTED)
        if row.enabled:
            raise Forbidden("Cannot delete a domain that is enabled, please disable it first.")
        removal.delete_domain(session, ttl, domain_id)

    transaction(delete)
    LOG.info("deleted domain %s", domain_id)
    return no_content()
