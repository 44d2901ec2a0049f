"""/v3/projects: create (under a parent), list, show (with its parents and subtree), update, delete.

Projects form trees inside a domain; Keystone shows the domain as the
parent of a top-level project, so ``parent_id`` equal to the domain id
means "no parent project" on the way in too. The parent never changes, and
a project with children cannot be deleted.
"""

from __future__ import annotations

import logging
from typing import Any

import flask
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.db.identity_models import Domain, Project
from cells.exception import BadRequest, Conflict, NotFound
from identity import hierarchy, lookup, removal, revocation, roles
from identity.handlers.common import (
    body,
    bool_filter,
    caller_domain,
    created,
    flag,
    no_content,
    transaction,
)
from identity.schemas import projects as schemas
from identity.service import caller, current
from identity.views import projects as views
from identity.views.links import collection

LOG = logging.getLogger(__name__)

bp = flask.Blueprint("projects", __name__)

NO_DOMAIN_PROJECTS = "Projects acting as domains are not supported by this service; create a domain instead."


@bp.get("/v3/projects")
def list_projects() -> flask.Response:
    """List projects, filtered by ``name``, ``domain_id``, ``enabled`` and ``parent_id``."""
    args = flask.request.args
    if bool_filter("is_domain"):
        return flask.jsonify(collection("projects", []))
    stmt = sa.select(Project).order_by(Project.name, Project.id)
    if "name" in args:
        stmt = stmt.where(Project.name == args["name"])
    if "domain_id" in args:
        stmt = stmt.where(Project.domain_id == args["domain_id"])
    enabled = bool_filter("enabled")
    if enabled is not None:
        stmt = stmt.where(Project.enabled.is_(enabled))
    if "parent_id" in args:
        parent_id = args["parent_id"]
        # The domain is the parent of its top-level projects.
        stmt = stmt.where(sa.or_(Project.parent_id == parent_id,
                                 sa.and_(Project.parent_id.is_(None), Project.domain_id == parent_id)))
    rows = transaction(lambda s: [views.project(p) for p in s.scalars(stmt)])
    return flask.jsonify(collection("projects", rows))


def _placement(session: Session, data: dict[str, Any]) -> tuple[str, str | None]:
    """Return (domain id, parent project id) of a new project; raises NotFound or BadRequest."""
    domain_id: str | None = data.get("domain_id")
    parent_id: str | None = data.get("parent_id")
    if parent_id is not None:
        # Locked: a concurrent delete of the parent waits for this create, and then sees the child.
        parent = session.get(Project, parent_id, with_for_update=True)
        if parent is None:
            if session.get(Domain, parent_id) is None:
                raise NotFound(f"Could not find project: {parent_id}.")
            if domain_id is not None and domain_id != parent_id:
                raise BadRequest(f"The parent {parent_id} is a domain other than domain_id {domain_id}.")
            return parent_id, None
        if domain_id is not None and domain_id != parent.domain_id:
            raise BadRequest(f"Cannot create a project in domain {domain_id} under parent {parent_id}, "
                             f"which belongs to domain {parent.domain_id}.")
        if not parent.enabled or any(not p.enabled for p in hierarchy.parents(session, parent_id)):
            raise BadRequest(f"Cannot create a project in a branch containing a disabled project: "
                             f"{parent_id}.")
        return parent.domain_id, parent.id
    return domain_id or caller_domain(session), None


@bp.post("/v3/projects")
def create_project() -> tuple[flask.Response, int]:
    """Create a project (``parent_id`` places it in a tree); 201, 409 if the name is taken."""
    data = body(schemas.CREATE)["project"]
    if data.get("is_domain"):
        raise BadRequest(NO_DOMAIN_PROJECTS)

    def create(session: Session) -> dict[str, Any]:
        domain_id, parent_id = _placement(session, data)
        lookup.require(session, Domain, domain_id)
        lookup.unique_name(session, Project, data["name"], domain_id=domain_id)
        row = Project(id=lookup.new_id(), domain_id=domain_id, parent_id=parent_id, name=data["name"],
                      enabled=data.get("enabled", True), description=data.get("description"),
                      quota_class=data.get("quota_class"))
        session.add(row)
        session.flush()
        return views.project(row)

    project = transaction(create, f"A project named {data['name']!r} already exists in its domain.")
    LOG.info("created project %s (parent %s)", project["id"], project["parent_id"])
    return created({"project": project})


def _visible(session: Session, rows: list[Project]) -> list[Project]:
    """Keystone lists only the parents/subtree projects the caller holds a role on (admins: all)."""
    ctx = caller()
    if ctx.is_admin:
        return rows
    mine = set(roles.projects_of(session, ctx.user_id or ""))
    return [p for p in rows if p.id in mine]


def _show(session: Session, project_id: str) -> dict[str, Any]:
    row = lookup.get(session, Project, project_id)
    body_ = views.project(row)
    if flag("parents_as_list") or flag("parents_as_ids"):
        ancestors = hierarchy.parents(session, project_id)
        if flag("parents_as_list"):
            body_["parents"] = [{"project": views.project(p)} for p in _visible(session, ancestors)]
        else:
            body_["parents"] = hierarchy.parents_as_ids(row, ancestors)
    if flag("subtree_as_list") or flag("subtree_as_ids"):
        below = hierarchy.subtree(session, project_id)
        if flag("subtree_as_list"):
            body_["subtree"] = [{"project": views.project(p)} for p in _visible(session, below)]
        else:
            body_["subtree"] = hierarchy.subtree_as_ids(project_id, below)
    return body_


@bp.get("/v3/projects/<project_id>")
def show_project(project_id: str) -> flask.Response:
    """Show a project; ``parents_as_ids|_as_list`` and ``subtree_as_ids|_as_list`` add its tree."""
    if flag("parents_as_list") and flag("parents_as_ids"):
        raise BadRequest("Cannot use parents_as_list and parents_as_ids query params at the same time.")
    if flag("subtree_as_list") and flag("subtree_as_ids"):
        raise BadRequest("Cannot use subtree_as_list and subtree_as_ids query params at the same time.")
    return flask.jsonify({"project": transaction(lambda s: _show(s, project_id))})


def _check_immutable(row: Project, data: dict[str, Any]) -> None:
    if data.get("is_domain"):
        raise BadRequest(NO_DOMAIN_PROJECTS)
    if "domain_id" in data and data["domain_id"] != row.domain_id:
        raise BadRequest("Update of `domain_id` is not allowed.")
    if "parent_id" in data and (data["parent_id"] or row.domain_id) != (row.parent_id or row.domain_id):
        raise BadRequest("Update of `parent_id` is not allowed.")


def _set_enabled(session: Session, row: Project, enabled: bool, ttl: int) -> None:
    if enabled == row.enabled:
        return
    if enabled:
        disabled = [p.id for p in hierarchy.parents(session, row.id) if not p.enabled]
        if disabled:
            raise Conflict(f"Cannot enable project {row.id}: its parent {disabled[0]} is disabled.")
    else:
        if any(p.enabled for p in hierarchy.subtree(session, row.id)):
            raise Conflict(f"Cannot disable project {row.id}: its subtree contains enabled projects; "
                           f"disable them first.")
        revocation.record(session, ttl, project_id=row.id)
    row.enabled = enabled


@bp.patch("/v3/projects/<project_id>")
def update_project(project_id: str) -> flask.Response:
    """Rename, describe, enable/disable (revoking its tokens), set the quota class; never re-parent."""
    data = body(schemas.UPDATE)["project"]
    ttl = current().conf.token_ttl

    def update(session: Session) -> dict[str, Any]:
        row = lookup.get(session, Project, project_id)
        _check_immutable(row, data)
        if "name" in data and data["name"] != row.name:
            lookup.unique_name(session, Project, data["name"], domain_id=row.domain_id, exclude_id=row.id)
            row.name = data["name"]
        if "description" in data:
            row.description = data["description"]
        if "quota_class" in data:
            row.quota_class = data["quota_class"]
        if "enabled" in data:
            _set_enabled(session, row, data["enabled"], ttl)
        session.flush()
        return views.project(row)

    project = transaction(update, "A project with that name already exists in its domain.")
    LOG.info("updated project %s", project_id)
    return flask.jsonify({"project": project})


@bp.delete("/v3/projects/<project_id>")
def delete_project(project_id: str) -> tuple[str, int]:
    """Delete a leaf project with its assignments and application credentials; 409 if it has children."""
    ttl = current().conf.token_ttl

    def delete(session: Session) -> None:
        if session.get(Project, project_id, with_for_update=True) is None:
            raise NotFound(f"Could not find project: {project_id}.")
        if hierarchy.has_children(session, project_id):
            raise Conflict(f"Cannot delete project {project_id}: it has child projects; "
                           f"delete them first.")
        removal.delete_project(session, ttl, project_id)

    transaction(delete, f"Project {project_id} changed while it was being deleted; try again.")
    LOG.info("deleted project %s", project_id)
    return no_content()
