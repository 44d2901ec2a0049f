"""Role grants and /v3/role_assignments.

Grants, for each actor (users, groups) and target (projects, domains):
``/v3/<targets>/<target_id>/<actors>/<actor_id>/roles`` (GET lists) and
``.../roles/<role_id>`` (PUT grants, GET/HEAD checks, DELETE revokes); the
same under ``/v3/OS-INHERIT/.../inherited_to_projects`` for inherited
grants, which reach every project below the target instead of the target.
"""

from __future__ import annotations

import logging
from typing import Any

import flask
from sqlalchemy.orm import Session

from identity import assignments, role_assignments
from identity.assignments import Grant
from identity.handlers.common import flag, no_content, route, transaction
from identity.role_assignments import Filters
from identity.service import current
from identity.views import assignments as views
from identity.views import roles as role_views
from identity.views.links import collection

LOG = logging.getLogger(__name__)

bp = flask.Blueprint("assignments", __name__)


def _grant(actor: str, target: str, inherited: bool, ids: dict[str, str]) -> Grant:
    return Grant(actor, ids[f"{actor}_id"], target, ids[f"{target}_id"], inherited)


def list_grants(actor: str, target: str, inherited: bool, **ids: str) -> flask.Response:
    """The roles this exact grant gives (inherited ones only under OS-INHERIT)."""
    grant = _grant(actor, target, inherited, ids)
    rows = transaction(lambda s: [role_views.role(r) for r in assignments.roles_of(s, grant)])
    return flask.jsonify(collection("roles", rows))


def put_grant(actor: str, target: str, inherited: bool, role_id: str, **ids: str) -> tuple[str, int]:
    """Grant the role; 204 (also if granted already), 404 for an unknown actor, target or role."""
    grant = _grant(actor, target, inherited, ids)
    transaction(lambda s: assignments.assign(s, grant, role_id))
    LOG.info("granted role %s to %s %s on %s %s%s", role_id, actor, grant.actor_id, target, grant.target_id,
             " (inherited)" if inherited else "")
    return no_content()


def check_grant(actor: str, target: str, inherited: bool, role_id: str, **ids: str) -> tuple[str, int]:
    """204 if the grant exists, else 404 (GET and HEAD)."""
    grant = _grant(actor, target, inherited, ids)

    def check(session: Session) -> bool:
        assignments.require_parties(session, grant)
        return assignments.has_role(session, grant, role_id)

    if not transaction(check):
        raise assignments.not_found(grant, role_id)
    return no_content()


def delete_grant(actor: str, target: str, inherited: bool, role_id: str, **ids: str) -> tuple[str, int]:
    """Revoke the grant and the tokens it vouched for; 404 if it does not exist."""
    grant = _grant(actor, target, inherited, ids)
    ttl = current().conf.token_ttl
    transaction(lambda s: assignments.unassign(s, ttl, grant, role_id))
    LOG.info("revoked role %s of %s %s on %s %s%s", role_id, actor, grant.actor_id, target, grant.target_id,
             " (inherited)" if inherited else "")
    return no_content()


def _register() -> None:
    for target in ("project", "domain"):
        for actor in ("user", "group"):
            for inherited in (False, True):
                base = f"/{target}s/<{target}_id>/{actor}s/<{actor}_id>/roles"
                prefix, suffix = ("/v3/OS-INHERIT", "/inherited_to_projects") if inherited else ("/v3", "")
                name = f"{target}_{actor}{'_inherited' if inherited else ''}"
                kwargs: dict[str, Any] = {"actor": actor, "target": target, "inherited": inherited}
                route(bp, f"{prefix}{base}{suffix}", ["GET"], f"list_{name}", list_grants, **kwargs)
                one = f"{prefix}{base}/<role_id>{suffix}"
                route(bp, one, ["PUT"], f"put_{name}", put_grant, **kwargs)
                route(bp, one, ["GET"], f"check_{name}", check_grant, **kwargs)
                route(bp, one, ["DELETE"], f"delete_{name}", delete_grant, **kwargs)


_register()


def _filters() -> Filters:
    args = flask.request.args
    inherited = None
    if "scope.OS-INHERIT:inherited_to" in args:
        inherited = args["scope.OS-INHERIT:inherited_to"] == "projects"
    return Filters(user_id=args.get("user.id") or None, group_id=args.get("group.id") or None,
                   role_id=args.get("role.id") or None, project_id=args.get("scope.project.id") or None,
                   domain_id=args.get("scope.domain.id") or None, inherited=inherited,
                   effective=flag("effective"), include_subtree=flag("include_subtree"),
                   system="scope.system" in args)


@bp.get("/v3/role_assignments")
def list_role_assignments() -> flask.Response:
    """List assignments (Keystone's filters, ``effective``, ``include_names``, ``include_subtree``)."""
    filters = _filters()
    include_names = flag("include_names")

    def load(session: Session) -> list[dict[str, Any]]:
        entries = role_assignments.list_assignments(session, filters)
        names = role_assignments.names(session, entries) if include_names else None
        return [views.entry(e, names) for e in entries]

    return flask.jsonify(collection("role_assignments", transaction(load)))
