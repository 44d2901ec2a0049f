"""Create (or bring up to date) the cell's initial identity data; safe to run again.

An API cell gets the default domain, the projects admin, service and demo,
the roles admin, member, reader and service, an admin user and optionally a
demo user, and the cell service accounts. A compute cell, whose identity
serves service accounts only, gets the domain, the roles, the service
project and the service accounts.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.config import CellConfig
from cells.db.engine import Database
from cells.db.identity_models import USER_PROJECT, Assignment, Domain, Project, Role, User
from identity.passwords import hash_password

LOG = logging.getLogger(__name__)

DEFAULT_DOMAIN_ID = "default"
ROLES = ("admin", "member", "reader", "service")


def _new_id() -> str:
    return uuid.uuid4().hex


def _domain(session: Session) -> Domain:
    domain = session.get(Domain, DEFAULT_DOMAIN_ID)
    if domain is None:
        domain = Domain(id=DEFAULT_DOMAIN_ID, name="Default", enabled=True,
                        description="The default domain")
        session.add(domain)
        session.flush()
    return domain


def _roles(session: Session) -> dict[str, str]:
    existing = {r.name: r.id for r in session.scalars(sa.select(Role).where(Role.name.in_(ROLES)))}
    for name in ROLES:
        if name not in existing:
            existing[name] = _new_id()
            session.add(Role(id=existing[name], name=name))
    session.flush()
    return existing


def _project(session: Session, name: str, description: str) -> str:
    project = session.scalars(sa.select(Project).where(
        Project.domain_id == DEFAULT_DOMAIN_ID, Project.name == name)).first()
    if project is None:
        project = Project(id=_new_id(), domain_id=DEFAULT_DOMAIN_ID, name=name, enabled=True,
                          description=description)
        session.add(project)
        session.flush()
    return project.id


def _user(session: Session, name: str, password_hash: str, project_id: str, is_service: bool) -> str:
    user = session.scalars(sa.select(User).where(
        User.domain_id == DEFAULT_DOMAIN_ID, User.name == name)).first()
    if user is None:
        user = User(id=_new_id(), domain_id=DEFAULT_DOMAIN_ID, name=name)
        session.add(user)
    user.password_hash = password_hash
    user.enabled = True
    user.is_service = is_service
    user.default_project_id = project_id
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    return user.id


def _assign(session: Session, user_id: str, project_id: str, role_id: str) -> None:
    key = {"type": USER_PROJECT, "actor_id": user_id, "target_id": project_id, "role_id": role_id,
           "inherited": False}
    if session.get(Assignment, key) is None:
        session.add(Assignment(**key))


def bootstrap(conf: CellConfig, db: Database, admin_password: str, demo_password: str | None,
              service_accounts: dict[str, str]) -> dict[str, Any]:
    """Create or update the initial data; returns the ids of what exists afterwards.

    ``service_accounts`` maps account names to passwords. Passwords are
    (re)set on every run; nothing is ever duplicated. On a cell whose
    identity serves service accounts only, the admin and demo users are not
    created and ``admin_password``/``demo_password`` are ignored.
    """
    full = not conf.service_accounts_only
    if full and not admin_password:
        raise ValueError("an admin password is required to bootstrap the API cell's identity")
    cost = conf.password_hash_cost
    # Hash before the transaction: scrypt is slow on purpose and must not hold locks.
    hashes = {name: hash_password(password, cost) for name, password in service_accounts.items()}
    admin_hash = hash_password(admin_password, cost) if full else None
    demo_hash = hash_password(demo_password, cost) if full and demo_password else None

    def run(session: Session) -> dict[str, Any]:
        _domain(session)
        roles = _roles(session)
        projects = {"service": _project(session, "service", "Cell service accounts")}
        users: dict[str, str] = {}
        if admin_hash is not None:
            projects["admin"] = _project(session, "admin", "Cloud administrators")
            users["admin"] = _user(session, "admin", admin_hash, projects["admin"], False)
            _assign(session, users["admin"], projects["admin"], roles["admin"])
        if demo_hash is not None:
            projects["demo"] = _project(session, "demo", "Demonstration project")
            users["demo"] = _user(session, "demo", demo_hash, projects["demo"], False)
            _assign(session, users["demo"], projects["demo"], roles["member"])
        for name, password_hash in hashes.items():
            users[name] = _user(session, name, password_hash, projects["service"], True)
            _assign(session, users[name], projects["service"], roles["service"])
        return {"domain_id": DEFAULT_DOMAIN_ID, "projects": projects, "roles": roles, "users": users}

    result = db.transaction(run)
    LOG.info("identity bootstrapped in cell %s: users %s", conf.path, ", ".join(sorted(result["users"])))
    return result
