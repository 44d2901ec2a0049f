"""Who may do what: the caller's context and the few rules of the Compute API.

- ``reader`` (and ``service``) may look at their project's resources;
- ``member`` may also create, act on and delete them;
- ``admin`` may do anything, in any project, and sees operator-only fields.

Another project's resource is reported as missing (404), never as forbidden,
so its existence does not leak.
"""

from __future__ import annotations

from flask import g, request

from cells.context import RequestContext
from cells.exception import Forbidden, Unauthorized

READ_ROLES = frozenset({"admin", "member", "reader", "service"})
WRITE_ROLES = frozenset({"admin", "member"})


def context() -> RequestContext:
    """Return the verified caller of the current request; raises Unauthorized if there is none."""
    ctxt = g.get("ctxt")
    if ctxt is None:
        ctxt = request.environ.get("cloud.context")
        if not isinstance(ctxt, RequestContext):
            raise Unauthorized("The request you have made requires authentication.")
        request_id = request.environ.get("cloud.request_id")
        if request_id:
            ctxt.request_id = request_id
        g.ctxt = ctxt
    return ctxt


def _refuse(rule: str) -> Forbidden:
    return Forbidden(f"Policy doesn't allow {rule} to be performed.")


def authorize_read(ctxt: RequestContext, rule: str) -> None:
    """Raise Forbidden unless the caller holds a role that may read."""
    if not READ_ROLES.intersection(ctxt.roles):
        raise _refuse(rule)


def authorize_write(ctxt: RequestContext, rule: str) -> None:
    """Raise Forbidden unless the caller may change resources of its project."""
    if not WRITE_ROLES.intersection(ctxt.roles) or (ctxt.project_id is None and not ctxt.is_admin):
        raise _refuse(rule)


def require_project(ctxt: RequestContext) -> str:
    """Return the caller's project; raises Forbidden for a token scoped to no project."""
    if ctxt.project_id is None:
        raise Forbidden("A project-scoped token is required to create servers.")
    return ctxt.project_id


def authorize_admin(ctxt: RequestContext, rule: str) -> None:
    """Raise Forbidden unless the caller is an admin."""
    if not ctxt.is_admin:
        raise _refuse(rule)


def owns(ctxt: RequestContext, project_id: str) -> bool:
    """True if the caller may see resources of ``project_id``."""
    return ctxt.is_admin or (ctxt.project_id is not None and ctxt.project_id == project_id)
