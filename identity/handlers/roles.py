"""/v3/roles: create, list, show, update and delete (global) roles.

Tokens carry role names, so renaming or deleting a role revokes the tokens
of every user holding it (directly or through a group), in the same
transaction; deleting it also deletes its assignments.
"""

from __future__ import annotations

import logging
from typing import Any

import flask
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.db.identity_models import Role
from identity import assignments, lookup
from identity.handlers.common import body, created, no_content, transaction
from identity.schemas import roles as schemas
from identity.service import current
from identity.views import roles as views
from identity.views.links import collection

LOG = logging.getLogger(__name__)

bp = flask.Blueprint("roles", __name__)


@bp.get("/v3/roles")
def list_roles() -> flask.Response:
    """List roles, filtered by ``name``; a ``domain_id`` filter finds none (no domain-specific roles)."""
    args = flask.request.args
    if args.get("domain_id"):
        return flask.jsonify(collection("roles", []))
    stmt = sa.select(Role).order_by(Role.name)
    if "name" in args:
        stmt = stmt.where(Role.name == args["name"])
    return flask.jsonify(collection("roles", transaction(lambda s: [views.role(r) for r in s.scalars(stmt)])))


@bp.post("/v3/roles")
def create_role() -> tuple[flask.Response, int]:
    """Create a role; 201, 409 if the name is taken."""
    data = body(schemas.CREATE)["role"]

    def create(session: Session) -> dict[str, Any]:
        lookup.unique_name(session, Role, data["name"])
        row = Role(id=lookup.new_id(), name=data["name"], description=data.get("description"))
        session.add(row)
        session.flush()
        return views.role(row)

    role = transaction(create, f"A role named {data['name']!r} already exists.")
    LOG.info("created role %s (%s)", role["id"], role["name"])
    return created({"role": role})


@bp.get("/v3/roles/<role_id>")
def show_role(role_id: str) -> flask.Response:
    return flask.jsonify({"role": transaction(lambda s: views.role(lookup.get(s, Role, role_id)))})


@bp.patch("/v3/roles/<role_id>")
def update_role(role_id: str) -> flask.Response:
    """Rename or describe a role; a rename revokes its holders' tokens (they carry the old name)."""
    data = body(schemas.UPDATE)["role"]
    ttl = current().conf.token_ttl

    def update(session: Session) -> dict[str, Any]:
        row = lookup.get(session, Role, role_id)
        if "name" in data and data["name"] != row.name:
            lookup.unique_name(session, Role, data["name"], exclude_id=role_id)
            row.name = data["name"]
            assignments.revoke_users(session, ttl, assignments.holders(session, role_id))
        if "description" in data:
            row.description = data["description"]
        session.flush()
        return views.role(row)

    role = transaction(update, "A role with that name already exists.")
    LOG.info("updated role %s", role_id)
    return flask.jsonify({"role": role})


@bp.delete("/v3/roles/<role_id>")
def delete_role(role_id: str) -> tuple[str, int]:
    """Delete a role and its assignments; revokes the tokens of every user who held it."""
    ttl = current().conf.token_ttl

    def delete(session: Session) -> None:
        lookup.require(session, Role, role_id)
        assignments.revoke_users(session, ttl, assignments.holders(session, role_id))
        assignments.delete_for_role(session, role_id)
        session.execute(sa.delete(Role).where(Role.id == role_id))

    transaction(delete)
    LOG.info("deleted role %s", role_id)
    return no_content()
