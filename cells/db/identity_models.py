"""Schema of the identity service: domains, projects, users, groups, roles, assignments,
application credentials and revocation events.

The tables live in the cell's own database under the ``identity`` migration
tree. An API cell holds every user; a compute cell holds only its service
accounts.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cells.db.types import NAME, PRECISE_TIME, JSONType, utcnow

ID = sa.String(64)


class IdentityBase(DeclarativeBase):
    pass


class Domain(IdentityBase):
    __tablename__ = "domains"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    description: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)


class Project(IdentityBase):
    """A tenant; projects form a tree through ``parent_id`` (any depth, within one domain).

    ``quota_class`` names the default quota class a personal project starts
    with; the quotas themselves belong to the resource-management service.
    """

    __tablename__ = "projects"
    __table_args__ = (sa.UniqueConstraint("domain_id", "name", name="uq_projects_domain_name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    domain_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("domains.id"))
    parent_id: Mapped[str | None] = mapped_column(
        ID, sa.ForeignKey("projects.id", ondelete="SET NULL"), nullable=True, index=True)
    name: Mapped[str] = mapped_column(NAME)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    description: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    quota_class: Mapped[str | None] = mapped_column(NAME, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)


class User(IdentityBase):
    """A person or a cell's service account; locked for a while after repeated failures."""

    __tablename__ = "users"
    __table_args__ = (sa.UniqueConstraint("domain_id", "name", name="uq_users_domain_name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    domain_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("domains.id"))
    name: Mapped[str] = mapped_column(NAME)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    is_service: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    default_project_id: Mapped[str | None] = mapped_column(
        ID, sa.ForeignKey("projects.id", ondelete="SET NULL"), nullable=True)
    description: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    email: Mapped[str | None] = mapped_column(NAME, nullable=True)
    failed_logins: Mapped[int] = mapped_column(sa.Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(sa.DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)


class Group(IdentityBase):
    __tablename__ = "groups"
    __table_args__ = (sa.UniqueConstraint("domain_id", "name", name="uq_groups_domain_name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    domain_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("domains.id"))
    name: Mapped[str] = mapped_column(NAME)
    description: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)


class GroupMembership(IdentityBase):
    __tablename__ = "group_memberships"

    group_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("groups.id", ondelete="CASCADE"),
                                          primary_key=True)
    user_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True, index=True)


class Role(IdentityBase):
    __tablename__ = "roles"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    description: Mapped[str | None] = mapped_column(sa.Text, nullable=True)


# Assignment types, as Keystone names them: who (user or group) holds a role where.
USER_PROJECT, GROUP_PROJECT = "UserProject", "GroupProject"
USER_DOMAIN, GROUP_DOMAIN = "UserDomain", "GroupDomain"
ASSIGNMENT_TYPES = (USER_PROJECT, GROUP_PROJECT, USER_DOMAIN, GROUP_DOMAIN)


class Assignment(IdentityBase):
    """A role an actor (user or group) holds on a target (project or domain).

    ``inherited``: the role applies to every project below the target (for a
    domain, to every project of the domain) and not to the target itself.
    Actor and target are polymorphic, so deleting one deletes its
    assignments in the same transaction (identity.assignments does).
    """

    __tablename__ = "assignments"
    __table_args__ = (
        sa.Index("ix_assignments_actor", "actor_id"),
        sa.Index("ix_assignments_target", "target_id"),
        sa.Index("ix_assignments_role", "role_id"),
    )

    type: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    actor_id: Mapped[str] = mapped_column(ID, primary_key=True)
    target_id: Mapped[str] = mapped_column(ID, primary_key=True)
    role_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("roles.id", ondelete="CASCADE"),
                                         primary_key=True)
    inherited: Mapped[bool] = mapped_column(sa.Boolean, primary_key=True, default=False)


class ApplicationCredential(IdentityBase):
    """A secret a user hands to a script: a project and a subset of the user's roles there."""

    __tablename__ = "application_credentials"
    __table_args__ = (sa.UniqueConstraint("user_id", "name", name="uq_app_creds_user_name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    description: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    user_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("projects.id", ondelete="CASCADE"))
    secret_hash: Mapped[str] = mapped_column(sa.String(255))
    roles: Mapped[list[str]] = mapped_column(JSONType)  # role ids
    unrestricted: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    expires_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)


class RevocationEvent(IdentityBase):
    """Tokens matching every non-null field and issued before ``issued_before`` are revoked.

    Kept until ``expires_at`` (revocation time plus the longest token
    lifetime), after which no token it matches can still be valid. Verifiers
    fetch new events by ``id`` and check them locally.
    """

    __tablename__ = "revocation_events"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    audit_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    audit_chain_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    user_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    project_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    domain_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    application_credential_id: Mapped[str | None] = mapped_column(ID, nullable=True)
    issued_before: Mapped[dt.datetime] = mapped_column(PRECISE_TIME)
    revoked_at: Mapped[dt.datetime] = mapped_column(PRECISE_TIME, default=utcnow, index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, index=True)
