"""GET /v3/auth/projects, /v3/auth/domains, /v3/auth/catalog: what the caller's token can reach."""

from __future__ import annotations

from typing import Any

import flask
import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.db.identity_models import GROUP_DOMAIN, USER_DOMAIN, Assignment, Domain, GroupMembership, Project
from cells.exception import Forbidden
from identity import roles
from identity.service import caller, current

bp = flask.Blueprint("auth_scopes", __name__)


def _links(path: str) -> dict[str, Any]:
    endpoint = current().conf.identity
    base = endpoint.public_url if endpoint else flask.request.url_root.rstrip("/")
    return {"self": f"{base}{path}", "previous": None, "next": None}


@bp.get("/v3/auth/projects")
def projects() -> flask.Response:
    """The enabled projects on which the caller holds a role (directly, by group or inherited)."""
    user_id = caller().user_id
    service = current()

    def load(session: Session) -> list[dict[str, Any]]:
        ids = roles.projects_of(session, user_id) if user_id else []
        if not ids:
            return []
        rows = session.scalars(sa.select(Project).where(Project.id.in_(ids)).order_by(Project.name))
        return [{"id": p.id, "name": p.name, "domain_id": p.domain_id, "parent_id": p.parent_id,
                 "enabled": p.enabled, "is_domain": False, "description": p.description or "",
                 "links": _links(f"/v3/projects/{p.id}")} for p in rows]

    return flask.jsonify({"projects": service.db.transaction(load), "links": _links("/v3/auth/projects")})


@bp.get("/v3/auth/domains")
def domains() -> flask.Response:
    """The enabled domains on which the caller holds a role (directly or by group)."""
    user_id = caller().user_id
    service = current()

    def load(session: Session) -> list[dict[str, Any]]:
        groups = sa.select(GroupMembership.group_id).where(GroupMembership.user_id == user_id)
        held = sa.select(Assignment.target_id).where(
            Assignment.inherited.is_(False),
            sa.or_(sa.and_(Assignment.type == USER_DOMAIN, Assignment.actor_id == user_id),
                   sa.and_(Assignment.type == GROUP_DOMAIN, Assignment.actor_id.in_(groups))))
        rows = session.scalars(sa.select(Domain).where(Domain.id.in_(held), Domain.enabled.is_(True))
                               .order_by(Domain.name))
        return [{"id": d.id, "name": d.name, "enabled": d.enabled, "description": d.description or "",
                 "links": _links(f"/v3/domains/{d.id}")} for d in rows]

    return flask.jsonify({"domains": service.db.transaction(load), "links": _links("/v3/auth/domains")})


@bp.get("/v3/auth/catalog")
def catalog() -> flask.Response:
    """The service catalog; only for a token scoped to a project or a domain, as in Keystone."""
    ctxt = caller()
    if ctxt.project_id is None and not ctxt.roles:
        raise Forbidden("The service catalog is handed out with scoped tokens only.")
    return flask.jsonify({"catalog": current().catalog, "links": _links("/v3/auth/catalog")})
