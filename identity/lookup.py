"""Find identity rows by id or answer in Keystone's words: 404 for unknown ids, 409 for taken names."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.db.identity_models import ApplicationCredential, Domain, Group, Project, Role, User
from cells.exception import Conflict, NotFound

T = TypeVar("T", Domain, Project, User, Group, Role, ApplicationCredential)

KINDS: dict[type, str] = {Domain: "domain", Project: "project", User: "user", Group: "group",
                          Role: "role", ApplicationCredential: "application credential"}


def new_id() -> str:
    """A Keystone-style id: a UUID4 without dashes."""
    return uuid.uuid4().hex


def get(session: Session, model: type[T], row_id: str) -> T:
    """Return the row with ``row_id``; raises NotFound ("Could not find project: <id>.")."""
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"Could not find {KINDS[model]}: {row_id}.")
    return row


def require(session: Session, model: type[Any], row_id: str) -> None:
    """Raise NotFound unless a row of ``model`` with ``row_id`` exists (without loading it)."""
    column: Any = model.id
    if session.execute(sa.select(column).where(column == row_id)).first() is None:
        raise NotFound(f"Could not find {KINDS[model]}: {row_id}.")


def unique_name(session: Session, model: type[T], name: str, *, domain_id: str | None = None,
                user_id: str | None = None, exclude_id: str | None = None) -> None:
    """Raise Conflict if ``name`` is taken in its namespace (the domain, the user, or global)."""
    column: Any = model.name  # type: ignore[attr-defined]
    stmt = sa.select(model.id).where(column == name)  # type: ignore[attr-defined]
    where = "."
    if domain_id is not None:
        stmt = stmt.where(model.domain_id == domain_id)  # type: ignore[attr-defined]
        where = f" in domain {domain_id}."
    if user_id is not None:
        stmt = stmt.where(ApplicationCredential.user_id == user_id)
        where = f" for user {user_id}."
    if exclude_id is not None:
        stmt = stmt.where(model.id != exclude_id)  # type: ignore[attr-defined]
    if session.execute(stmt).first() is not None:
        raise Conflict(f"Conflict occurred attempting to store {KINDS[model]} - "
                       f"a {KINDS[model]} named {name!r} already exists{where}")
