"""The caller's context and the checks of the Compute API that need more than the route.

Which roles may call which route (``reader`` and ``service`` read, ``member``
also writes, ``admin`` anything in any project) is the policy table's
business: identity/policy.yaml, enforced by the auth middleware before a
handler runs. What is left here needs the resource or the token's scope.

Another project's resource is reported as missing (404), never as forbidden,
so its existence does not leak.
"""

from __future__ import annotations

from flask import g, request

from cells.context import RequestContext
from cells.exception import Forbidden, Unauthorized


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


def require_project(ctxt: RequestContext) -> str:
    """Return the caller's project; raises Forbidden for a token scoped to no project."""
    if ctxt.project_id is None:
        raise Forbidden("A project-scoped token is required to create servers.")
    return ctxt.project_id


def owns(ctxt: RequestContext, project_id: str) -> bool:
    """True if the caller may see resources of ``project_id``."""
    return ctxt.is_admin or (ctxt.project_id is not None and ctxt.project_id == project_id)
