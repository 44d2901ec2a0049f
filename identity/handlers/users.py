"""/v3/users: create (optionally with a personal project), list, show, update, delete; passwords.

Passwords are hashed before any transaction opens (scrypt is slow on
purpose and must not hold locks) and never logged or returned. Disabling
or deleting a user, or changing its password, revokes its tokens in the
same transaction. A cell whose identity serves service accounts only
refuses any other user.
"""

from __future__ import annotations

import logging
from typing import Any

import flask
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.config import CellConfig
from cells.db.engine import rowcount
from cells.db.identity_models import Domain, Group, GroupMembership, Project, User
from cells.exception import BadRequest, Conflict
from identity import auth, lookup, passwords, personal, removal, revocation, roles
from identity.handlers.common import body, bool_filter, caller_domain, created, no_content, transaction
from identity.schemas import users as schemas
from identity.service import current
from identity.views import groups as group_views
from identity.views import projects as project_views
from identity.views import users as views
from identity.views.links import collection

LOG = logging.getLogger(__name__)

bp = flask.Blueprint("users", __name__)


def _service_only(conf: CellConfig) -> BadRequest:
    return BadRequest(f"The identity service of cell {conf.path} holds service accounts only: "
                      f"create the user with \"is_service\": true here, or create people in the API cell.")


def render(session: Session, user_ids: sa.Select[str]) -> list[dict[str, Any]]:
    """The bodies of the users ``user_ids`` selects, sorted by name."""
    return [views.user(u, flag) for u, flag in personal.with_flag(session, current().conf, user_ids)]


def show(session: Session, user_id: str) -> dict[str, Any]:
    lookup.require(session, User, user_id)
    return render(session, sa.select(User.id).where(User.id == user_id))[0]


@bp.get("/v3/users")
def list_users() -> flask.Response:
    """List users, filtered by ``name``, ``domain_id`` and ``enabled``."""
    args = flask.request.args
    stmt = sa.select(User.id)
    if "name" in args:
        stmt = stmt.where(User.name == args["name"])
    if "domain_id" in args:
        stmt = stmt.where(User.domain_id == args["domain_id"])
    enabled = bool_filter("enabled")
    if enabled is not None:
        stmt = stmt.where(User.enabled.is_(enabled))
    return flask.jsonify(collection("users", transaction(lambda s: render(s, stmt))))


@bp.post("/v3/users")
def create_user() -> tuple[flask.Response, int]:
    """Create a user (``"personal": true``: with its personal project); 201, 409 if the name is taken."""
    data = body(schemas.CREATE)["user"]
    conf = current().conf
    is_service = data.get("is_service", False)
    wants_personal = data.get("personal", False)
    if conf.service_accounts_only and not is_service:
        raise _service_only(conf)
    if wants_personal and (is_service or data.get("default_project_id")):
        raise BadRequest("A personal user gets its personal project as default project: it cannot be "
                         "a service account nor name another default project.")
    password = data.get("password")
    password_hash = passwords.hash_password(password, conf.password_hash_cost) if password else None

    def create(session: Session) -> dict[str, Any]:
        domain_id = data.get("domain_id") or caller_domain(session)
        lookup.require(session, Domain, domain_id)
        lookup.unique_name(session, User, data["name"], domain_id=domain_id)
        if data.get("default_project_id"):
            lookup.require(session, Project, data["default_project_id"])
        user = User(id=lookup.new_id(), domain_id=domain_id, name=data["name"], password_hash=password_hash,
                    enabled=data.get("enabled", True), is_service=is_service,
                    default_project_id=data.get("default_project_id"), description=data.get("description"),
                    email=data.get("email"), failed_logins=0)
        session.add(user)
        session.flush()
        if wants_personal:
            personal.create(session, conf, user)
            session.flush()
        return show(session, user.id)

    user = transaction(create, f"A user named {data['name']!r} already exists in its domain.")
    LOG.info("created user %s%s", user["id"], " with a personal project" if wants_personal else "")
    return created({"user": user})


@bp.get("/v3/users/<user_id>")
def show_user(user_id: str) -> flask.Response:
    return flask.jsonify({"user": transaction(lambda s: show(s, user_id))})


def _check_update(conf: CellConfig, row: User, data: dict[str, Any], is_personal: bool) -> None:
    if "domain_id" in data and data["domain_id"] != row.domain_id:
        raise BadRequest("Update of `domain_id` is not allowed.")
    if "personal" in data and data["personal"] != is_personal:
        raise BadRequest("`personal` is chosen when the user is created and cannot be changed.")
    if conf.service_accounts_only and data.get("is_service") is False:
        raise _service_only(conf)


@bp.patch("/v3/users/<user_id>")
def update_user(user_id: str) -> flask.Response:
    """Update a user; disabling it or setting its password revokes its tokens."""
    data = body(schemas.UPDATE)["user"]
    conf = current().conf
    new_password = data.get("password")
    new_hash = passwords.hash_password(new_password, conf.password_hash_cost) if new_password else None

    def update(session: Session) -> dict[str, Any]:
        row = lookup.get(session, User, user_id)
        _check_update(conf, row, data, show(session, user_id)["personal"])
        revoke = False
        if "name" in data and data["name"] != row.name:
            lookup.unique_name(session, User, data["name"], domain_id=row.domain_id, exclude_id=row.id)
            row.name = data["name"]
        for attr in ("description", "email", "is_service"):
            if attr in data:
                setattr(row, attr, data[attr])
        if "default_project_id" in data:
            if data["default_project_id"]:
                lookup.require(session, Project, data["default_project_id"])
            row.default_project_id = data["default_project_id"]
        if "enabled" in data:
            revoke = revoke or (row.enabled and not data["enabled"])
            row.enabled = data["enabled"]
        if "password" in data:
            row.password_hash, row.failed_logins, row.locked_until = new_hash, 0, None
            revoke = True
        if revoke:
            revocation.record(session, conf.token_ttl, user_id=user_id)
        session.flush()
        return show(session, user_id)

    user = transaction(update, "A user with that name already exists in its domain.")
    LOG.info("updated user %s", user_id)
    return flask.jsonify({"user": user})


@bp.delete("/v3/users/<user_id>")
def delete_user(user_id: str) -> tuple[str, int]:
    """Delete a user with its assignments, memberships and application credentials."""
    ttl = current().conf.token_ttl

    def delete(session: Session) -> None:
        lookup.require(session, User, user_id)
        removal.delete_user(session, ttl, user_id)

    transaction(delete)
    LOG.info("deleted user %s", user_id)
    return no_content()


@bp.post("/v3/users/<user_id>/password")
def change_password(user_id: str) -> tuple[str, int]:
    """Change one's password given the original; 204, 401 if the original is wrong. Revokes its tokens."""
    data = body(schemas.CHANGE_PASSWORD)["user"]
    service = current()
    conf = service.conf
    row = transaction(lambda s: lookup.get(s, User, user_id))
    seen = row.password_hash
    auth.verify_counted(service.db, service.lockout, row, data["original_password"],
                        "Error when changing user password: the original password is incorrect.")
    new_hash = passwords.hash_password(data["password"], conf.password_hash_cost)

    def write(session: Session) -> None:
        # Compare-and-swap: a password changed meanwhile was not the one just checked.
        result = session.execute(sa.update(User).where(User.id == user_id, User.password_hash == seen)
                                 .values(password_hash=new_hash, failed_logins=0, locked_until=None))
        if rowcount(result) != 1:
            lookup.require(session, User, user_id)
            raise Conflict("The password was changed by another request meanwhile; try again.")
        revocation.record(session, conf.token_ttl, user_id=user_id)

    transaction(write)
    LOG.info("user %s changed its password", user_id)
    return no_content()


@bp.get("/v3/users/<user_id>/groups")
def list_user_groups(user_id: str) -> flask.Response:
    """The groups the user belongs to."""

    def load(session: Session) -> list[dict[str, Any]]:
        lookup.require(session, User, user_id)
        rows = session.scalars(sa.select(Group).join(GroupMembership, GroupMembership.group_id == Group.id)
                               .where(GroupMembership.user_id == user_id).order_by(Group.name))
        return [group_views.group(g) for g in rows]

    return flask.jsonify(collection("groups", transaction(load)))


@bp.get("/v3/users/<user_id>/projects")
def list_user_projects(user_id: str) -> flask.Response:
    """The enabled projects the user holds a role on: directly, through groups, or inherited."""

    def load(session: Session) -> list[dict[str, Any]]:
        lookup.require(session, User, user_id)
        ids = roles.projects_of(session, user_id)
        if not ids:
            return []
        rows = session.scalars(sa.select(Project).where(Project.id.in_(ids)).order_by(Project.name))
        return [project_views.project(p) for p in rows]

    return flask.jsonify(collection("projects", transaction(load)))

