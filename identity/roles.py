"""Effective roles: what a user holds on a project or a domain, directly, through groups, inherited.

A user holds a role on project P if it is assigned, to the user or to one of
the user's groups, on P itself (not inherited), on an ancestor of P with the
inherited flag, or on P's domain with the inherited flag. On a domain, only
non-inherited domain assignments count. Each answer is one SQL statement: a
recursive query walks the project's ancestors in the same round trip.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.db.identity_models import (
    GROUP_DOMAIN,
    GROUP_PROJECT,
    USER_DOMAIN,
    USER_PROJECT,
    Assignment,
    GroupMembership,
    Project,
    Role,
)

RoleRef = tuple[str, str]  # (role id, role name)


# Table columns, not ORM attributes: the statements built once below are plain Core, which
# skips the ORM's execution path on the token-issuing hot path.
_A, _G, _P, _R = (Assignment.__table__.c, GroupMembership.__table__.c, Project.__table__.c,
                  Role.__table__.c)
_USER_TYPES, _GROUP_TYPES = (USER_PROJECT, USER_DOMAIN), (GROUP_PROJECT, GROUP_DOMAIN)
_PROJECT_TYPES, _DOMAIN_TYPES = (USER_PROJECT, GROUP_PROJECT), (USER_DOMAIN, GROUP_DOMAIN)


def _actors(user_id: Any) -> sa.ColumnElement[bool]:
    groups = sa.select(_G.group_id).where(_G.user_id == user_id)
    return sa.or_(sa.and_(_A.type.in_(_USER_TYPES), _A.actor_id == user_id),
                  sa.and_(_A.type.in_(_GROUP_TYPES), _A.actor_id.in_(groups)))


def ancestors_query(project_id: Any) -> sa.CTE:
    """A recursive CTE of ``project_id`` and all its ancestors: columns id, parent_id, domain_id, depth."""
    base = sa.select(_P.id, _P.parent_id, _P.domain_id, sa.literal(0).label("depth")).where(
        _P.id == project_id)
    tree = base.cte("ancestors", recursive=True)
    parent = Project.__table__.alias("parent")
    tree = tree.union_all(
        sa.select(parent.c.id, parent.c.parent_id, parent.c.domain_id, (tree.c.depth + 1).label("depth"))
        .join_from(parent, tree, parent.c.id == tree.c.parent_id)
        .where(tree.c.depth < 1000))  # a corrupted cycle cannot loop forever
    return tree


def _roles_where(*conditions: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return (sa.select(_R.id, _R.name).distinct()
            .join_from(Role.__table__, Assignment.__table__, _A.role_id == _R.id)
            .where(*conditions).order_by(_R.name))


def _on_project_statement() -> sa.Select[Any]:
    user_id: sa.BindParameter[str] = sa.bindparam("user_id")
    project_id: sa.BindParameter[str] = sa.bindparam("project_id")
    tree = ancestors_query(project_id)
    domain_of = sa.select(_P.domain_id).where(_P.id == project_id).scalar_subquery()
    return _roles_where(_actors(user_id), sa.or_(
        sa.and_(_A.type.in_(_PROJECT_TYPES), _A.target_id == project_id, _A.inherited.is_(False)),
        sa.and_(_A.type.in_(_PROJECT_TYPES), _A.inherited.is_(True),
                _A.target_id.in_(sa.select(tree.c.id).where(tree.c.depth > 0))),
        sa.and_(_A.type.in_(_DOMAIN_TYPES), _A.inherited.is_(True), _A.target_id == domain_of),
    ))


def _on_domain_statement() -> sa.Select[Any]:
    user_id: sa.BindParameter[str] = sa.bindparam("user_id")
    domain_id: sa.BindParameter[str] = sa.bindparam("domain_id")
    return _roles_where(_actors(user_id), _A.type.in_(_DOMAIN_TYPES), _A.target_id == domain_id,
                        _A.inherited.is_(False))


_ON_PROJECT = _on_project_statement()
_ON_DOMAIN = _on_domain_statement()


def on_project(session: Session, user_id: str, project_id: str) -> tuple[RoleRef, ...]:
    """Return the roles ``user_id`` holds on ``project_id``, sorted by name, without duplicates."""
    rows = session.execute(_ON_PROJECT, {"user_id": user_id, "project_id": project_id}).all()
    return tuple((r[0], r[1]) for r in rows)


def on_domain(session: Session, user_id: str, domain_id: str) -> tuple[RoleRef, ...]:
    """Return the roles ``user_id`` holds on the domain itself, sorted by name."""
    rows = session.execute(_ON_DOMAIN, {"user_id": user_id, "domain_id": domain_id}).all()
    return tuple((r[0], r[1]) for r in rows)


def projects_of(session: Session, user_id: str) -> list[str]:
    """Return the ids of the enabled projects on which ``user_id`` holds any role.

    Walks down from every project or domain carrying an assignment of the
    user (or of the user's groups) so inherited roles are found too.
    """
    direct = session.execute(
        sa.select(Assignment.type, Assignment.target_id, Assignment.inherited).where(_actors(user_id))
    ).all()
    found: set[str] = set()
    inherited_roots: set[str] = set()
    inherited_domains: set[str] = set()
    for kind, target, inherited in direct:
        if kind in (USER_PROJECT, GROUP_PROJECT):
            (inherited_roots if inherited else found).add(target)
        elif inherited:
            inherited_domains.add(target)
    if inherited_domains:
        found.update(session.scalars(sa.select(Project.id).where(
            Project.domain_id.in_(inherited_domains))))
    frontier = set(inherited_roots)
    while frontier:
        children = set(session.scalars(sa.select(Project.id).where(Project.parent_id.in_(frontier))))
        children -= found
        found.update(children)
        frontier = children
    if not found:
        return []
    return sorted(session.scalars(sa.select(Project.id).where(
        Project.id.in_(found), Project.enabled.is_(True))))
