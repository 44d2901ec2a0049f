"""Personal projects: a project of one's own, created with the user.

It is named "Personal <user name>", lives in the user's domain, starts with
the personal quota class, becomes the user's default project, and the user
holds the ``member`` role on it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.config import CellConfig
from cells.db.identity_models import Project, Role, User
from cells.exception import Conflict
from identity import assignments, lookup

ROLE = "member"
PREFIX = "Personal "
MAX_NAME = 255  # the projects.name column


def project_name(user_name: str) -> str:
    return (PREFIX + user_name)[:MAX_NAME]


def create(session: Session, conf: CellConfig, user: User) -> Project:
    """Create the user's personal project in the caller's transaction; raises Conflict if it cannot."""
    name = project_name(user.name)
    lookup.unique_name(session, Project, name, domain_id=user.domain_id)
    role_id = session.scalar(sa.select(Role.id).where(Role.name == ROLE))
    if role_id is None:
        raise Conflict(f"The {ROLE!r} role does not exist, so no personal project can be created.")
    project = Project(id=lookup.new_id(), domain_id=user.domain_id, parent_id=None, name=name,
                      enabled=True, description=f"Personal project of {user.name}",
                      quota_class=conf.personal_quota_class)
    session.add(project)
    session.flush()
    user.default_project_id = project.id
    assignments.assign(session, assignments.Grant("user", user.id, "project", project.id), role_id)
    return project


def is_personal(conf: CellConfig, default_project_quota_class: str | None) -> bool:
    """A user is personal when its default project carries the personal quota class."""
    return default_project_quota_class is not None and \
        default_project_quota_class == conf.personal_quota_class


def with_flag(session: Session, conf: CellConfig, user_ids: sa.Select[str]) -> list[tuple[User, bool]]:
    """The users whose ids ``user_ids`` selects, each with its ``personal`` flag, sorted by name.

    One outer join on the default project answers for every user at once.
    """
    rows = session.execute(
        sa.select(User, Project.quota_class)
        .outerjoin(Project, Project.id == User.default_project_id)
        .where(User.id.in_(user_ids.scalar_subquery()))
        .order_by(User.name, User.id))
    return [(user, is_personal(conf, quota_class)) for user, quota_class in rows]
