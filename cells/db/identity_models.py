"""Schema of the identity service: domains, projects, users, roles, assignments, revocations.

The tables live in the cell's own database under the ``identity`` migration
tree. An API cell holds every user; a compute cell holds only its service
accounts.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cells.db.types import NAME, utcnow

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
    """A tenant; ``parent_id`` leaves room for a project tree."""

    __tablename__ = "projects"
    __table_args__ = (sa.UniqueConstraint("domain_id", "name", name="uq_projects_domain_name"),)

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    domain_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("domains.id"))
    parent_id: Mapped[str | None] = mapped_column(
        ID, sa.ForeignKey("projects.id", ondelete="SET NULL"), nullable=True, index=True)
    name: Mapped[str] = mapped_column(NAME)
    enabled: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    description: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
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
    failed_logins: Mapped[int] = mapped_column(sa.Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(sa.DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)


class Role(IdentityBase):
    __tablename__ = "roles"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)


class RoleAssignment(IdentityBase):
    """A role a user holds on a project (``inherited``: also on its subtree, for later)."""

    __tablename__ = "role_assignments"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "project_id", "role_id", "inherited",
                            name="uq_role_assignments"),
        sa.Index("ix_role_assignments_project", "project_id"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("projects.id", ondelete="CASCADE"))
    role_id: Mapped[str] = mapped_column(ID, sa.ForeignKey("roles.id", ondelete="CASCADE"))
    inherited: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class RevokedToken(IdentityBase):
    """A token revoked before its expiry; kept until then, then purged."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(ID, primary_key=True)
    audit_id: Mapped[str | None] = mapped_column(ID, nullable=True, index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, index=True)
    revoked_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)
