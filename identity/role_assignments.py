"""GET /v3/role_assignments: list assignments as stored, or as they take effect.

Effective mode (Keystone's ``effective``) replaces each group assignment by
one per member and each inherited assignment by one per project it
reaches (the projects below a project, or every project of a domain), then
applies the filters to the result. Candidate rows are narrowed in SQL first
(the user and the user's groups; the project, its ancestors and domain).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.db.identity_models import Assignment, Domain, Group, GroupMembership, Project, Role, User
from cells.exception import BadRequest
from identity import hierarchy
from identity.assignments import DOMAIN_TYPES, GROUP_TYPES, PROJECT_TYPES, USER_TYPES


@dataclass(frozen=True)
class Filters:
    user_id: str | None = None
    group_id: str | None = None
    role_id: str | None = None
    project_id: str | None = None
    domain_id: str | None = None
    inherited: bool | None = None  # scope.OS-INHERIT:inherited_to given: == 'projects'
    effective: bool = False
    include_subtree: bool = False
    system: bool = False  # scope.system given: this service has no system assignments

    def check(self) -> None:
        """Raise BadRequest for the combinations Keystone refuses."""
        if self.project_id and self.domain_id:
            raise BadRequest("Specify a domain or project, not both")
        if self.user_id and self.group_id:
            raise BadRequest("Specify a user or group, not both")
        if self.include_subtree and not self.project_id:
            raise BadRequest("scope.project.id must be specified if include_subtree is also specified")
        if self.effective and self.group_id:
            raise BadRequest("Combining effective and group filter will always result in an empty list.")
        if self.effective and self.inherited and self.domain_id:
            raise BadRequest("Combining effective, domain and inherited filters will always result in "
                             "an empty list.")


@dataclass(frozen=True)
class Entry:
    """One listed assignment; ``via_group``/``source`` say where an effective one comes from."""

    role_id: str
    user_id: str | None
    group_id: str | None
    project_id: str | None
    domain_id: str | None
    inherited: bool = False
    via_group: str | None = None
    source: tuple[str, str] | None = None  # ('projects'|'domains', id) of the inherited assignment


@dataclass
class Names:
    """Names for include_names: entities by id, with their domains."""

    roles: dict[str, str] = field(default_factory=dict)
    users: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (name, domain id)
    groups: dict[str, tuple[str, str]] = field(default_factory=dict)
    projects: dict[str, tuple[str, str]] = field(default_factory=dict)
    domains: dict[str, str] = field(default_factory=dict)


def _entry(row: Assignment) -> Entry:
    user = row.actor_id if row.type in USER_TYPES else None
    group = row.actor_id if row.type in GROUP_TYPES else None
    project = row.target_id if row.type in PROJECT_TYPES else None
    domain = row.target_id if row.type in DOMAIN_TYPES else None
    return Entry(row.role_id, user, group, project, domain, bool(row.inherited))


def _scope_ids(session: Session, f: Filters) -> set[str]:
    assert f.project_id is not None
    ids = {f.project_id}
    if f.include_subtree:
        ids.update(p.id for p in hierarchy.subtree(session, f.project_id))
    return ids


def _stored(session: Session, f: Filters) -> list[Entry]:
    stmt = sa.select(Assignment)
    if f.role_id:
        stmt = stmt.where(Assignment.role_id == f.role_id)
    if f.user_id:
        stmt = stmt.where(Assignment.type.in_(USER_TYPES), Assignment.actor_id == f.user_id)
    if f.group_id:
        stmt = stmt.where(Assignment.type.in_(GROUP_TYPES), Assignment.actor_id == f.group_id)
    if f.project_id:
        stmt = stmt.where(Assignment.type.in_(PROJECT_TYPES),
                          Assignment.target_id.in_(_scope_ids(session, f)))
    if f.domain_id:
        stmt = stmt.where(Assignment.type.in_(DOMAIN_TYPES), Assignment.target_id == f.domain_id)
    if f.inherited is not None:
        stmt = stmt.where(Assignment.inherited.is_(f.inherited))
    order = (Assignment.type, Assignment.target_id, Assignment.actor_id, Assignment.role_id)
    return [_entry(row) for row in session.scalars(stmt.order_by(*order))]


def _candidates(session: Session, f: Filters, scope: set[str] | None) -> list[Assignment]:
    stmt = sa.select(Assignment)
    if f.role_id:
        stmt = stmt.where(Assignment.role_id == f.role_id)
    if f.inherited is not None:
        stmt = stmt.where(Assignment.inherited.is_(f.inherited))
    if f.user_id:
        groups = sa.select(GroupMembership.group_id).where(GroupMembership.user_id == f.user_id)
        stmt = stmt.where(sa.or_(
            sa.and_(Assignment.type.in_(USER_TYPES), Assignment.actor_id == f.user_id),
            sa.and_(Assignment.type.in_(GROUP_TYPES), Assignment.actor_id.in_(groups))))
    if f.domain_id:
        stmt = stmt.where(Assignment.type.in_(DOMAIN_TYPES), Assignment.target_id == f.domain_id,
                          Assignment.inherited.is_(False))
    elif scope is not None and f.project_id:
        # A subtree's ancestors are in the subtree or above its root, and a tree is in one domain.
        ancestors = hierarchy.parents(session, f.project_id)
        above = scope | {p.id for p in ancestors}
        domain = session.scalar(sa.select(Project.domain_id).where(Project.id == f.project_id))
        stmt = stmt.where(sa.or_(
            sa.and_(Assignment.type.in_(PROJECT_TYPES), Assignment.target_id.in_(above)),
            sa.and_(Assignment.type.in_(DOMAIN_TYPES), Assignment.inherited.is_(True),
                    Assignment.target_id == domain)))
    order = (Assignment.type, Assignment.target_id, Assignment.actor_id, Assignment.role_id)
    return list(session.scalars(stmt.order_by(*order)))


def _effective(session: Session, f: Filters) -> list[Entry]:
    scope = _scope_ids(session, f) if f.project_id else None
    rows = _candidates(session, f, scope)
    forest = hierarchy.Forest(session) if any(r.inherited for r in rows) else None
    member_cache: dict[str, list[str]] = {}
    result: list[Entry] = []
    for row in rows:
        if row.type in GROUP_TYPES:
            if row.actor_id not in member_cache:
                member_cache[row.actor_id] = sorted(session.scalars(
                    sa.select(GroupMembership.user_id).where(GroupMembership.group_id == row.actor_id)))
            users: list[tuple[str, str | None]] = [(u, row.actor_id) for u in member_cache[row.actor_id]]
        else:
            users = [(row.actor_id, None)]
        if f.user_id:
            users = [(u, g) for u, g in users if u == f.user_id]
        on_domain = row.type in DOMAIN_TYPES
        if not row.inherited:
            targets: list[tuple[str | None, str | None]] = (
                [(None, row.target_id)] if on_domain else [(row.target_id, None)])
            source = None
        else:
            assert forest is not None
            reached = forest.in_domain(row.target_id) if on_domain else forest.below(row.target_id)
            targets = [(p, None) for p in reached]
            source = ("domains" if on_domain else "projects", row.target_id)
        for project_id, domain_id in targets:
            if scope is not None and project_id not in scope:
                continue
            if f.domain_id and domain_id != f.domain_id:
                continue
            for user_id, via in users:
                result.append(Entry(row.role_id, user_id, None, project_id, domain_id,
                                    bool(row.inherited), via, source))
    return result


def list_assignments(session: Session, f: Filters) -> list[Entry]:
    """Return the assignments matching ``f``; raises BadRequest for a useless combination."""
    f.check()
    if f.system:
        return []
    return _effective(session, f) if f.effective else _stored(session, f)


def names(session: Session, entries: list[Entry]) -> Names:
    """Look up, in one query per kind, the names include_names shows."""
    found = Names()
    role_ids = {e.role_id for e in entries}
    user_ids = {e.user_id for e in entries if e.user_id}
    group_ids = {e.group_id for e in entries if e.group_id}
    project_ids = {e.project_id for e in entries if e.project_id}
    domain_ids = {e.domain_id for e in entries if e.domain_id}
    if role_ids:
        found.roles = dict(session.execute(
            sa.select(Role.id, Role.name).where(Role.id.in_(role_ids))).all())
    owners: dict[str, set[str]] = defaultdict(set)
    for model, ids, into in ((User, user_ids, found.users), (Group, group_ids, found.groups),
                             (Project, project_ids, found.projects)):
        if ids:
            for row_id, name, domain_id in session.execute(
                    sa.select(model.id, model.name, model.domain_id).where(model.id.in_(ids))):
                into[row_id] = (name, domain_id)
                owners["domains"].add(domain_id)
    all_domains = domain_ids | owners["domains"]
    if all_domains:
        found.domains = dict(session.execute(
            sa.select(Domain.id, Domain.name).where(Domain.id.in_(all_domains))).all())
    return found
