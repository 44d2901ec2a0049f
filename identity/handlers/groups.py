"""/v3/groups: create, list, show, update, delete groups and manage their members.

Removing a member, or deleting the group, revokes the tokens of the users
who lose what the group gave them, in the same transaction.
"""

from __future__ import annotations

import logging
from typing import Any

import flask
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.db.identity_models import Domain, Group, GroupMembership, User
from cells.exception import BadRequest, NotFound
from identity import lookup, removal, revocation
from identity.handlers.common import body, caller_domain, created, no_content, transaction
from identity.handlers.users import render as render_users
from identity.schemas import groups as schemas
from identity.service import current
from identity.views import groups as views
from identity.views.links import collection

LOG = logging.getLogger(__name__)

bp = flask.Blueprint("groups", __name__)


@bp.get("/v3/groups")
def list_groups() -> flask.Response:
    """List groups, filtered by ``name`` and ``domain_id``."""
    args = flask.request.args
    stmt = sa.select(Group).order_by(Group.name, Group.id)
    if "name" in args:
        stmt = stmt.where(Group.name == args["name"])
    if "domain_id" in args:
        stmt = stmt.where(Group.domain_id == args["domain_id"])
    rows = transaction(lambda s: [views.group(g) for g in s.scalars(stmt)])
    return flask.jsonify(collection("groups", rows))


@bp.post("/v3/groups")
def create_group() -> tuple[flask.Response, int]:
    """Create a group; 201, 409 if the name is taken in the domain."""
    data = body(schemas.CREATE)["group"]

    def create(session: Session) -> dict[str, Any]:
        domain_id = data.get("domain_id") or caller_domain(session)
        lookup.require(session, Domain, domain_id)
        lookup.unique_name(session, Group, data["name"], domain_id=domain_id)
        row = Group(id=lookup.new_id(), domain_id=domain_id, name=data["name"],
                    description=data.get("description"))
        session.add(row)
        session.flush()
        return views.group(row)

    group = transaction(create, f"A group named {data['name']!r} already exists in its domain.")
    LOG.info("created group %s", group["id"])
    return created({"group": group})


@bp.get("/v3/groups/<group_id>")
def show_group(group_id: str) -> flask.Response:
    return flask.jsonify({"group": transaction(lambda s: views.group(lookup.get(s, Group, group_id)))})


@bp.patch("/v3/groups/<group_id>")
def update_group(group_id: str) -> flask.Response:
    data = body(schemas.UPDATE)["group"]

    def update(session: Session) -> dict[str, Any]:
        row = lookup.get(session, Group, group_id)
        if "domain_id" in data and data["domain_id"] != row.domain_id:
            raise BadRequest("Update of `domain_id` is not allowed.")
        if "name" in data and data["name"] != row.name:
            lookup.unique_name(session, Group, data["name"], domain_id=row.domain_id, exclude_id=row.id)
            row.name = data["name"]
        if "description" in data:
            row.description = data["description"]
        session.flush()
        return views.group(row)

    group = transaction(update, "A group with that name already exists in its domain.")
    LOG.info("updated group %s", group_id)
    return flask.jsonify({"group": group})


@bp.delete("/v3/groups/<group_id>")
def delete_group(group_id: str) -> tuple[str, int]:
    """Delete a group with its assignments and memberships; its members' tokens are revoked."""
    ttl = current().conf.token_ttl

    def delete(session: Session) -> None:
        lookup.require(session, Group, group_id)
        removal.delete_group(session, ttl, group_id)

    transaction(delete)
    LOG.info("deleted group %s", group_id)
    return no_content()


@bp.get("/v3/groups/<group_id>/users")
def list_members(group_id: str) -> flask.Response:
    """The group's members."""

    def load(session: Session) -> list[dict[str, Any]]:
        lookup.require(session, Group, group_id)
        return render_users(session, sa.select(GroupMembership.user_id)
                            .where(GroupMembership.group_id == group_id))

    return flask.jsonify(collection("users", transaction(load)))


def _membership(session: Session, group_id: str, user_id: str) -> bool:
    lookup.require(session, Group, group_id)
    lookup.require(session, User, user_id)
    return session.get(GroupMembership, {"group_id": group_id, "user_id": user_id}) is not None


def _not_member(group_id: str, user_id: str) -> NotFound:
    return NotFound(f"User {user_id} is not a member of group {group_id}.")


@bp.put("/v3/groups/<group_id>/users/<user_id>")
def add_member(group_id: str, user_id: str) -> tuple[str, int]:
    """Add a user to a group; 204 (also if it is a member already)."""

    def add(session: Session) -> None:
        if not _membership(session, group_id, user_id):
            session.add(GroupMembership(group_id=group_id, user_id=user_id))

    transaction(add)
    LOG.info("added user %s to group %s", user_id, group_id)
    return no_content()


@bp.get("/v3/groups/<group_id>/users/<user_id>")
def check_member(group_id: str, user_id: str) -> tuple[str, int]:
    """204 if the user is a member of the group, else 404 (GET and HEAD)."""
    if not transaction(lambda s: _membership(s, group_id, user_id)):
        raise _not_member(group_id, user_id)
    return no_content()


@bp.delete("/v3/groups/<group_id>/users/<user_id>")
def remove_member(group_id: str, user_id: str) -> tuple[str, int]:
    """Remove a user from a group and revoke its tokens; 404 if it is not a member."""
    ttl = current().conf.token_ttl

    def remove(session: Session) -> None:
        if not _membership(session, group_id, user_id):
            raise _not_member(group_id, user_id)
        session.execute(sa.delete(GroupMembership).where(GroupMembership.group_id == group_id,
                                                         GroupMembership.user_id == user_id))
        revocation.record(session, ttl, user_id=user_id)

    transaction(remove)
    LOG.info("removed user %s from group %s", user_id, group_id)
    return no_content()
