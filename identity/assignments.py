"""Role assignments (grants): create, check, list and delete them; clean up after their parties.

An assignment is (actor, target, role, inherited): a user or group holds a
role on a project or domain. Deleting one records the revocation events
that cut short the tokens it vouched for, in the caller's transaction:
a user's role on a project revokes that user's tokens on the project, an
inherited or domain assignment all the user's tokens, a group's assignment
the tokens of every member at the time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.db.engine import rowcount
from cells.db.identity_models import (
    GROUP_DOMAIN,
    GROUP_PROJECT,
    USER_DOMAIN,
    USER_PROJECT,
    Assignment,
    Domain,
    Group,
    GroupMembership,
    Project,
    Role,
    User,
)
from cells.exception import NotFound
from identity import lookup, revocation

TYPES = {("user", "project"): USER_PROJECT, ("group", "project"): GROUP_PROJECT,
         ("user", "domain"): USER_DOMAIN, ("group", "domain"): GROUP_DOMAIN}
USER_TYPES = (USER_PROJECT, USER_DOMAIN)
GROUP_TYPES = (GROUP_PROJECT, GROUP_DOMAIN)
PROJECT_TYPES = (USER_PROJECT, GROUP_PROJECT)
DOMAIN_TYPES = (USER_DOMAIN, GROUP_DOMAIN)
_ACTORS: dict[str, type[User] | type[Group]] = {"user": User, "group": Group}
_TARGETS: dict[str, type[Project] | type[Domain]] = {"project": Project, "domain": Domain}


@dataclass(frozen=True)
class Grant:
    """Who holds roles where: ``actor`` is 'user' or 'group', ``target`` 'project' or 'domain'."""

    actor: str
    actor_id: str
    target: str
    target_id: str
    inherited: bool = False

    @property
    def type(self) -> str:
        return TYPES[(self.actor, self.target)]

    def where(self) -> sa.ColumnElement[bool]:
        return sa.and_(Assignment.type == self.type, Assignment.actor_id == self.actor_id,
                       Assignment.target_id == self.target_id, Assignment.inherited.is_(self.inherited))


def require_parties(session: Session, grant: Grant) -> None:
    """Raise NotFound unless the grant's actor and target exist."""
    lookup.require(session, _ACTORS[grant.actor], grant.actor_id)
    lookup.require(session, _TARGETS[grant.target], grant.target_id)


def roles_of(session: Session, grant: Grant) -> list[Role]:
    """Return the roles assigned by exactly this grant, sorted by name; NotFound for unknown parties."""
    require_parties(session, grant)
    return list(session.scalars(sa.select(Role).join(Assignment, Assignment.role_id == Role.id)
                                .where(grant.where()).order_by(Role.name)))


def has_role(session: Session, grant: Grant, role_id: str) -> bool:
    return session.execute(sa.select(Assignment.role_id).where(
        grant.where(), Assignment.role_id == role_id)).first() is not None


def assign(session: Session, grant: Grant, role_id: str) -> None:
    """Create the assignment if it is missing (PUT is idempotent); NotFound for unknown ids."""
    require_parties(session, grant)
    lookup.require(session, Role, role_id)
    if not has_role(session, grant, role_id):
        session.add(Assignment(type=grant.type, actor_id=grant.actor_id, target_id=grant.target_id,
                               role_id=role_id, inherited=grant.inherited))


def not_found(grant: Grant, role_id: str) -> NotFound:
    return NotFound(f"Could not find role assignment with role: {role_id}, {grant.actor}: "
                    f"{grant.actor_id}, {grant.target}: {grant.target_id}"
                    f"{' (inherited to projects)' if grant.inherited else ''}.")


def unassign(session: Session, token_ttl: int, grant: Grant, role_id: str) -> None:
    """Delete the assignment and revoke the tokens it vouched for; NotFound if it does not exist."""
    require_parties(session, grant)
    deleted = session.execute(sa.delete(Assignment).where(grant.where(), Assignment.role_id == role_id))
    if not rowcount(deleted):
        raise not_found(grant, role_id)
    revoke_for(session, token_ttl, grant)


def members(session: Session, group_id: str) -> list[str]:
    """The ids of the group's members, sorted."""
    return sorted(session.scalars(sa.select(GroupMembership.user_id)
                                  .where(GroupMembership.group_id == group_id)))


def revoke_users(session: Session, token_ttl: int, user_ids: Iterable[str]) -> None:
    """Record one event per user: every token the user holds now is revoked."""
    for user_id in sorted(set(user_ids)):
        revocation.record(session, token_ttl, user_id=user_id)


def revoke_for(session: Session, token_ttl: int, grant: Grant) -> None:
    """Record the events that revoke the tokens a deleted grant vouched for."""
    if grant.actor == "group":
        revoke_users(session, token_ttl, members(session, grant.actor_id))
    elif grant.target == "project" and not grant.inherited:
        revocation.record(session, token_ttl, user_id=grant.actor_id, project_id=grant.target_id)
    else:
        revocation.record(session, token_ttl, user_id=grant.actor_id)


def holders(session: Session, role_id: str) -> set[str]:
    """The users who hold ``role_id`` anywhere, directly or through a group."""
    direct = set(session.scalars(sa.select(Assignment.actor_id).where(
        Assignment.role_id == role_id, Assignment.type.in_(USER_TYPES))))
    groups = sa.select(Assignment.actor_id).where(Assignment.role_id == role_id,
                                                  Assignment.type.in_(GROUP_TYPES))
    direct.update(session.scalars(sa.select(GroupMembership.user_id)
                                  .where(GroupMembership.group_id.in_(groups))))
    return direct


def delete_for_actor(session: Session, actor: str, actor_id: str) -> None:
    """Delete every assignment of a user or group (being deleted)."""
    kinds = USER_TYPES if actor == "user" else GROUP_TYPES
    session.execute(sa.delete(Assignment).where(Assignment.type.in_(kinds), Assignment.actor_id == actor_id))


def delete_for_targets(session: Session, target: str, target_ids: Iterable[str]) -> None:
    """Delete every assignment on the projects or domains given (being deleted)."""
    ids = list(target_ids)
    if ids:
        kinds = PROJECT_TYPES if target == "project" else DOMAIN_TYPES
        session.execute(sa.delete(Assignment).where(Assignment.type.in_(kinds),
                                                    Assignment.target_id.in_(ids)))


def delete_for_role(session: Session, role_id: str) -> None:
    session.execute(sa.delete(Assignment).where(Assignment.role_id == role_id))
