"""Delete users, groups, projects and domains with everything that hangs off them, in one transaction.

Assignments have polymorphic actor and target ids (no foreign keys), so
they are deleted here explicitly; memberships and application credentials
too, rather than trusting every backend to cascade. Each function records
the revocation events that cut short the tokens the deleted rows vouched for.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.db.identity_models import (
    ApplicationCredential,
    Assignment,
    Domain,
    Group,
    GroupMembership,
    Project,
    User,
)
from identity import assignments, revocation


def delete_user(session: Session, token_ttl: int, user_id: str) -> None:
    assignments.delete_for_actor(session, "user", user_id)
    session.execute(sa.delete(GroupMembership).where(GroupMembership.user_id == user_id))
    session.execute(sa.delete(ApplicationCredential).where(ApplicationCredential.user_id == user_id))
    session.execute(sa.delete(User).where(User.id == user_id))
    revocation.record(session, token_ttl, user_id=user_id)


def delete_group(session: Session, token_ttl: int, group_id: str) -> None:
    """Delete a group; its members at this moment lose whatever the group gave them."""
    assignments.revoke_users(session, token_ttl, assignments.members(session, group_id))
    assignments.delete_for_actor(session, "group", group_id)
    session.execute(sa.delete(GroupMembership).where(GroupMembership.group_id == group_id))
    session.execute(sa.delete(Group).where(Group.id == group_id))


def delete_project(session: Session, token_ttl: int, project_id: str) -> None:
    """Delete a leaf project (the caller has checked it has no children)."""
    assignments.delete_for_targets(session, "project", [project_id])
    session.execute(sa.delete(ApplicationCredential).where(ApplicationCredential.project_id == project_id))
    session.execute(sa.update(User).where(User.default_project_id == project_id)
                    .values(default_project_id=None))
    session.execute(sa.delete(Project).where(Project.id == project_id))
    revocation.record(session, token_ttl, project_id=project_id)


def delete_domain(session: Session, token_ttl: int, domain_id: str) -> None:
    """Delete a domain with its projects, users and groups, as Keystone does.

    One domain event revokes every token of the domain's users and every
    token scoped to one of its projects.
    """
    users = sa.select(User.id).where(User.domain_id == domain_id).scalar_subquery()
    groups = sa.select(Group.id).where(Group.domain_id == domain_id).scalar_subquery()
    projects = sa.select(Project.id).where(Project.domain_id == domain_id).scalar_subquery()
    session.execute(sa.delete(Assignment).where(sa.or_(
        sa.and_(Assignment.type.in_(assignments.USER_TYPES), Assignment.actor_id.in_(users)),
        sa.and_(Assignment.type.in_(assignments.GROUP_TYPES), Assignment.actor_id.in_(groups)),
        sa.and_(Assignment.type.in_(assignments.PROJECT_TYPES), Assignment.target_id.in_(projects)),
        sa.and_(Assignment.type.in_(assignments.DOMAIN_TYPES), Assignment.target_id == domain_id))))
    session.execute(sa.delete(GroupMembership).where(sa.or_(
        GroupMembership.user_id.in_(users), GroupMembership.group_id.in_(groups))))
    session.execute(sa.delete(ApplicationCredential).where(sa.or_(
        ApplicationCredential.user_id.in_(users), ApplicationCredential.project_id.in_(projects))))
    session.execute(sa.update(User).where(User.default_project_id.in_(projects))
                    .values(default_project_id=None))
    session.execute(sa.delete(User).where(User.domain_id == domain_id))
    session.execute(sa.delete(Group).where(Group.domain_id == domain_id))
    # Detach the tree first so no row still points at a parent deleted before it.
    session.execute(sa.update(Project).where(Project.domain_id == domain_id).values(parent_id=None))
    session.execute(sa.delete(Project).where(Project.domain_id == domain_id))
    session.execute(sa.delete(Domain).where(Domain.id == domain_id))
    revocation.record(session, token_ttl, domain_id=domain_id)
