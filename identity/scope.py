"""The scope a token asks for (a project, a domain, or none) and the user's roles there.

Every authentication method ends here once it knows the user, so a project
scope means the same thing whichever way the user proved who it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.db.identity_models import Domain, Project
from cells.exception import BadRequest, Unauthorized
from identity import roles
from identity.tokens import DomainRef, ProjectRef

RoleRefs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Requested:
    """What the request asked for: a project, a domain, nothing, or the user's default project."""

    project: dict[str, Any] | None = None
    domain: dict[str, Any] | None = None
    use_default: bool = False


@dataclass(frozen=True)
class Scope:
    project: ProjectRef | None = None
    domain: DomainRef | None = None
    roles: RoleRefs = ()


UNSCOPED = Scope()


def requested(auth: dict[str, Any]) -> Requested:
    """Parse the ``scope`` of a validated auth block; raises Unauthorized for a scope we do not issue."""
    scope = auth.get("scope")
    if scope is None:
        return Requested(use_default=True)
    if scope == "unscoped":
        return Requested()
    if "system" in scope:
        raise Unauthorized("System-scoped tokens are not issued by this service; "
                           "scope the token to a project or a domain.")
    if "project" in scope and "domain" in scope:
        raise BadRequest("Specify either a project or a domain scope, not both.")
    return Requested(project=scope.get("project"), domain=scope.get("domain"))


def domain_filter(column_id: Any, column_name: Any, ref: dict[str, Any] | None, what: str) -> Any:
    """The WHERE clause for a domain given by id or by name; a name alone is ambiguous."""
    if not ref:
        raise BadRequest(f"Expecting to find domain in {what}: a {what} given by name needs its domain.")
    return column_id == ref["id"] if "id" in ref else column_name == ref["name"]


# Built once: constructing a statement costs more than running it on the token path.
# Table columns, not ORM attributes: plain Core statements skip the ORM's execution path.
_P, _D = Project.__table__.c, Domain.__table__.c
_PROJECT_COLUMNS = sa.select(_P.id, _P.name, _P.enabled, _D.id, _D.name, _D.enabled).join_from(
    Project.__table__, Domain.__table__, _D.id == _P.domain_id)
_PROJECT_BY_ID = _PROJECT_COLUMNS.where(_P.id == sa.bindparam("project_id"))
_PROJECT_BY_NAME_IN_DOMAIN_ID = _PROJECT_COLUMNS.where(_P.name == sa.bindparam("name"),
                                                       _D.id == sa.bindparam("domain"))
_PROJECT_BY_NAME_IN_DOMAIN_NAME = _PROJECT_COLUMNS.where(_P.name == sa.bindparam("name"),
                                                         _D.name == sa.bindparam("domain"))


def find_project(session: Session, ref: dict[str, Any]) -> tuple[ProjectRef, bool] | None:
    """Return the project (by id, or by name and domain) and whether it and its domain are enabled."""
    if "id" in ref:
        row = session.execute(_PROJECT_BY_ID, {"project_id": ref["id"]}).first()
    else:
        domain = ref.get("domain")
        if not domain:
            raise BadRequest("Expecting to find domain in project: a project given by name needs its domain.")
        stmt = _PROJECT_BY_NAME_IN_DOMAIN_ID if "id" in domain else _PROJECT_BY_NAME_IN_DOMAIN_NAME
        params = {"name": ref["name"], "domain": domain.get("id", domain.get("name"))}
        row = session.execute(stmt, params).first()
    if row is None:
        return None
    return ProjectRef(row[0], row[1], row[3], row[4]), bool(row[2] and row[5])


def find_domain(session: Session, ref: dict[str, Any]) -> tuple[DomainRef, bool] | None:
    column = Domain.id if "id" in ref else Domain.name
    row = session.execute(sa.select(Domain.id, Domain.name, Domain.enabled)
                          .where(column == ref.get("id", ref.get("name")))).first()
    return (DomainRef(row[0], row[1]), bool(row[2])) if row else None


def _refused(kind: str, ref: dict[str, Any]) -> Unauthorized:
    wanted = ref.get("id") or ref.get("name")
    return Unauthorized(f"You have no role on {kind} {wanted!r}, or it does not exist or is disabled.")


def resolve(session: Session, user_id: str, wanted: Requested, default_project_id: str | None) -> Scope:
    """Return the scope and the user's roles there; raises Unauthorized if it cannot be granted.

    A default project the user cannot use yields an unscoped token, as in
    Keystone; an explicitly requested scope without roles is refused.
    """
    if wanted.domain is not None:
        domain = find_domain(session, wanted.domain)
        held = roles.on_domain(session, user_id, domain[0].id) if domain and domain[1] else ()
        if not held or domain is None:
            raise _refused("domain", wanted.domain)
        return Scope(domain=domain[0], roles=held)
    ref = wanted.project
    if ref is None and wanted.use_default and default_project_id:
        ref = {"id": default_project_id}
    if ref is None:
        return UNSCOPED
    project = find_project(session, ref)
    held = roles.on_project(session, user_id, project[0].id) if project and project[1] else ()
    if project is None or not held:
        if wanted.project is None:
            return UNSCOPED
        raise _refused("project", ref)
    return Scope(project=project[0], roles=held)
