"""Password authentication: find the user and the requested scope, check the password, lock out.

One transaction reads the user, the project and the roles held there; the
password is checked outside any transaction (scrypt is slow on purpose); a
failure is counted by an atomic increment, and the account is locked for a
while after ``LockoutPolicy.attempts`` consecutive failures. The happy path
writes nothing unless a failure count has to be cleared.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from cells.config import CellConfig
from cells.db.engine import Database
from cells.db.identity_models import Domain, Project, Role, User
from cells.db.types import utcnow
from cells.exception import BadRequest, Unauthorized
from identity import passwords, roles
from identity.tokens import ProjectRef, Subject

AUTH_REQUIRED = "The request you have made requires authentication."


@dataclass(frozen=True)
class LockoutPolicy:
    """How many consecutive failures lock an account, and for how long (0 attempts: never)."""

    attempts: int = 5
    seconds: int = 300


@dataclass
class _Found:
    user: User
    domain: Domain
    project: ProjectRef | None = None
    project_enabled: bool = False
    roles: tuple[tuple[str, str], ...] = ()


def _domain_filter(column_id: Any, column_name: Any, ref: dict[str, Any] | None, what: str) -> Any:
    if not ref:
        raise BadRequest(f"Expecting to find domain in {what}: a {what} given by name needs its domain.")
    return column_id == ref["id"] if "id" in ref else column_name == ref["name"]


def _find_user(session: Session, ref: dict[str, Any]) -> tuple[User, Domain] | None:
    stmt = sa.select(User, Domain).join(Domain, Domain.id == User.domain_id)
    if "id" in ref:
        stmt = stmt.where(User.id == ref["id"])
    else:
        stmt = stmt.where(User.name == ref["name"],
                          _domain_filter(Domain.id, Domain.name, ref.get("domain"), "user"))
    row = session.execute(stmt).first()
    return (row[0], row[1]) if row else None


def _find_project(session: Session, ref: dict[str, Any]) -> tuple[ProjectRef, bool] | None:
    domain = aliased(Domain)
    stmt = sa.select(Project.id, Project.name, Project.enabled, domain.id, domain.name,
                     domain.enabled).join(domain, domain.id == Project.domain_id)
    if "id" in ref:
        stmt = stmt.where(Project.id == ref["id"])
    else:
        stmt = stmt.where(Project.name == ref["name"],
                          _domain_filter(domain.id, domain.name, ref.get("domain"), "project"))
    row = session.execute(stmt).first()
    if row is None:
        return None
    return ProjectRef(row[0], row[1], row[3], row[4]), bool(row[2] and row[5])


def _lookup(session: Session, user_ref: dict[str, Any], project_ref: dict[str, Any] | None,
            use_default: bool) -> _Found | None:
    found_user = _find_user(session, user_ref)
    if found_user is None:
        return None
    found = _Found(*found_user)
    if project_ref is None and use_default and found.user.default_project_id:
        project_ref = {"id": found.user.default_project_id}
    project = _find_project(session, project_ref) if project_ref else None
    if project is not None:
        found.project, found.project_enabled = project
        found.roles = roles.on_project(session, found.user.id, project[0].id)
    return found


def _record_failure(db: Database, user: User, lockout: LockoutPolicy, now: dt.datetime) -> bool:
    """Count one failure atomically; returns True if it locks the account."""
    if lockout.attempts <= 0:
        return False
    reaches = User.failed_logins + 1 >= lockout.attempts
    until = now + dt.timedelta(seconds=lockout.seconds)
    # locked_until first: MariaDB evaluates SET left to right with already-updated values.
    stmt = (sa.update(User).where(User.id == user.id).ordered_values(
        (User.locked_until, sa.case((reaches, until), else_=User.locked_until)),
        (User.failed_logins, sa.case((reaches, 0), else_=User.failed_logins + 1)),
    ))
    db.transaction(lambda s: s.execute(stmt))
    return user.failed_logins + 1 >= lockout.attempts


def _after_success(db: Database, conf: CellConfig, user: User, password: str) -> None:
    values: dict[str, Any] = {}
    if user.failed_logins or user.locked_until:
        values.update(failed_logins=0, locked_until=None)
    if passwords.needs_rehash(user.password_hash, conf.password_hash_cost):
        values["password_hash"] = passwords.hash_password(password, conf.password_hash_cost)
    if values:
        db.transaction(lambda s: s.execute(sa.update(User).where(User.id == user.id).values(**values)))


def _locked_message(seconds: float) -> str:
    return (f"The account is locked after too many failed logins; "
            f"try again in {max(1, int(seconds + 0.999))} seconds.")


def _scope(auth: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
    """Return the requested project (or None) and whether the default project applies."""
    scope = auth.get("scope")
    if scope is None:
        return None, True
    if scope == "unscoped":
        return None, False
    if set(scope) - {"project"}:
        raise Unauthorized("Only project-scoped and unscoped tokens are issued by this service.")
    return scope.get("project"), False


def authenticate(db: Database, conf: CellConfig, lockout: LockoutPolicy, auth: dict[str, Any]) -> Subject:
    """Check a validated ``auth`` block; returns the Subject, raises Unauthorized or BadRequest."""
    methods = auth["identity"]["methods"]
    if methods != ["password"]:
        raise Unauthorized(f"Authentication method {'+'.join(methods)!r} is not supported; use password.")
    if "password" not in auth["identity"]:
        raise BadRequest("Expecting to find password in identity.")
    user_ref = auth["identity"]["password"]["user"]
    password = user_ref["password"]
    project_ref, use_default = _scope(auth)
    found = db.transaction(lambda s: _lookup(s, user_ref, project_ref, use_default))
    now = utcnow()
    if found is None:
        passwords.dummy_verify(password, conf.password_hash_cost)
        raise Unauthorized(AUTH_REQUIRED)
    user = found.user
    if user.locked_until is not None and user.locked_until > now:
        raise Unauthorized(_locked_message((user.locked_until - now).total_seconds()))
    if not passwords.verify_password(password, user.password_hash):
        if _record_failure(db, user, lockout, now):
            raise Unauthorized(_locked_message(lockout.seconds))
        raise Unauthorized(AUTH_REQUIRED)
    if not user.enabled or not found.domain.enabled:
        raise Unauthorized("The account is disabled.")
    if conf.service_accounts_only and not user.is_service:
        raise Unauthorized(f"This identity endpoint accepts only service accounts of cell {conf.path}.")
    _after_success(db, conf, user, password)
    project = found.project
    if project_ref is not None and (project is None or not found.project_enabled or not found.roles):
        wanted = project_ref.get("id") or project_ref.get("name")
        raise Unauthorized(f"You have no role on project {wanted!r}, or it does not exist or is disabled.")
    if project is not None and (not found.project_enabled or not found.roles):
        project = None  # a default project the user cannot use: fall back to an unscoped token
    return Subject(user_id=user.id, user_name=user.name, domain_id=found.domain.id,
                   domain_name=found.domain.name, project=project,
                   roles=found.roles if project else ())


def subject_of(session: Session, claims: dict[str, Any]) -> Subject | None:
    """Rebuild the Subject of a token being validated; None if its user or project is gone or disabled."""
    row = session.execute(
        sa.select(User.enabled, Domain.name, Domain.enabled)
        .join(Domain, Domain.id == User.domain_id).where(User.id == claims["sub"])
    ).first()
    if row is None or not (row[0] and row[2]):
        return None
    project = None
    roles: tuple[tuple[str, str], ...] = ()
    if claims.get("project_id"):
        found = _find_project(session, {"id": claims["project_id"]})
        if found is None or not found[1]:
            return None
        project = found[0]
        names = list(claims.get("roles") or [])
        rows = session.execute(sa.select(Role.id, Role.name).where(Role.name.in_(names))).all()
        ids = {r[1]: r[0] for r in rows}
        roles = tuple((ids.get(name, name), name) for name in names)
    return Subject(user_id=claims["sub"], user_name=claims.get("name") or "", domain_id=claims["domain_id"],
                   domain_name=row[1], project=project, roles=roles,
                   methods=tuple(claims.get("methods") or ("password",)))
