"""The password method: find the user, check the password, lock out after repeated failures.

The password is checked outside any transaction (scrypt is slow on purpose);
a failure is counted by an atomic increment, and the account is locked for a
while after ``LockoutPolicy.attempts`` consecutive failures. The happy path
writes nothing unless a failure count has to be cleared.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.config import CellConfig
from cells.db.engine import Database
from cells.db.identity_models import Domain, User
from cells.db.types import utcnow
from cells.exception import BadRequest, Unauthorized
from identity import passwords, scope
from identity.tokens import Subject

AUTH_REQUIRED = "The request you have made requires authentication."


@dataclass(frozen=True)
class LockoutPolicy:
    """How many consecutive failures lock an account, and for how long (0 attempts: never)."""

    attempts: int = 5
    seconds: int = 300


def _find_user(session: Session, ref: dict[str, Any]) -> tuple[User, Domain] | None:
    stmt = sa.select(User, Domain).join(Domain, Domain.id == User.domain_id)
    if "id" in ref:
        stmt = stmt.where(User.id == ref["id"])
    else:
        stmt = stmt.where(User.name == ref["name"],
                          scope.domain_filter(Domain.id, Domain.name, ref.get("domain"), "user"))
    row = session.execute(stmt).first()
    return (row[0], row[1]) if row else None


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


def _service_only(conf: CellConfig) -> str:
    return (f"This identity endpoint accepts only service accounts of cell {conf.path}; "
            f"users log in at the API cell's identity service.")


def _locked_message(seconds: float) -> str:
    return (f"The account is locked after too many failed logins; "
            f"try again in {max(1, int(seconds + 0.999))} seconds.")


def verify_counted(db: Database, lockout: LockoutPolicy, user: User, password: str, wrong: str,
                   now: dt.datetime | None = None) -> None:
    """Check ``user``'s password as a login does; raises Unauthorized (``wrong`` if it does not match).

    Refused while the account is locked; a wrong password counts towards the
    lockout, wherever it is tried (a login, or a password change giving the
    original): a stolen token must not allow unlimited guesses.
    """
    now = now or utcnow()
    if user.locked_until is not None and user.locked_until > now:
        raise Unauthorized(_locked_message((user.locked_until - now).total_seconds()))
    if not passwords.verify_password(password, user.password_hash):
        if _record_failure(db, user, lockout, now):
            raise Unauthorized(_locked_message(lockout.seconds))
        raise Unauthorized(wrong)


def check_password(db: Database, conf: CellConfig, lockout: LockoutPolicy,
                   password_block: dict[str, Any]) -> tuple[User, Domain]:
    """Find the user and check its password, counting failures; returns the user and its domain."""
    user_ref = password_block["user"]
    password = user_ref["password"]
    found = db.transaction(lambda s: _find_user(s, user_ref))
    now = utcnow()
    if found is None:
        passwords.dummy_verify(password, conf.password_hash_cost)
        raise Unauthorized(_service_only(conf) if conf.service_accounts_only else AUTH_REQUIRED)
    user, domain = found
    verify_counted(db, lockout, user, password, AUTH_REQUIRED, now)
    if not user.enabled or not domain.enabled:
        raise Unauthorized("The account is disabled.")
    if conf.service_accounts_only and not user.is_service:
        raise Unauthorized(_service_only(conf))
    _after_success(db, conf, user, password)
    return user, domain


def password_subject(db: Database, conf: CellConfig, lockout: LockoutPolicy,
                     auth: dict[str, Any]) -> Subject:
    """The password method: check the password, then grant the requested scope."""
    if "password" not in auth["identity"]:
        raise BadRequest("Expecting to find password in identity.")
    wanted = scope.requested(auth)
    user, domain = check_password(db, conf, lockout, auth["identity"]["password"])
    granted = db.transaction(lambda s: scope.resolve(s, user.id, wanted, user.default_project_id))
    return Subject(user_id=user.id, user_name=user.name, domain_id=domain.id, domain_name=domain.name,
                   project=granted.project, domain_scope=granted.domain, roles=granted.roles)
