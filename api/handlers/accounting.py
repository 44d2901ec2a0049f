"""os-accounting (our extension): usage of a period, per hour, day or month, grouped by project,
parent project, compute cell or flavor.

An admin sees everything and may narrow it to one project (for ``parent``: that
project's subtree); anyone else sees only the project of its token.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from api import deps, policy
from api.compute import accounting
from api.deps import respond
from api.store import usage as store
from api.validation import query_time
from api.views import accounting as views
from cells.context import RequestContext
from cells.exception import Forbidden

bp = Blueprint("accounting", __name__, url_prefix="/v2.1/os-accounting")


def _scope(ctxt: RequestContext, query: accounting.Query,
           projects: accounting.Projects) -> tuple[list[str] | None, str | None]:
    """The projects whose usage the caller gets (None: all), and the top of a narrowed tree."""
    wanted = query.project_id
    if not ctxt.is_admin:
        own = ctxt.project_id
        if own is None:
            raise Forbidden("A project-scoped token is required to see usage.")
        if wanted is not None and wanted != own:
            raise Forbidden(f"You are not allowed to see usage of project {wanted}.")
        return [own], own
    if wanted is None:
        return None, None
    if query.group_by == "parent":
        return accounting.subtree(projects, wanted), wanted
    return [wanted], wanted


@bp.get("")
def index() -> Response:
    ctxt = policy.context()
    services = deps.services()
    hour_seconds = services.conf.metering_hour_seconds
    query = accounting.check(query_time("start"), query_time("end"), request.args.get("granularity"),
                             request.args.get("group_by"), request.args.get("project_id"), hour_seconds)
    projects = store.projects(services.db)
    project_ids, top = _scope(ctxt, query, projects)
    rows = store.period_sums(services.db, store.Window(query.start, query.end), query.granularity,
                             query.group_by, project_ids)
    sums = [accounting.Sums(r.key, r.name, accounting.period_start(r.period, query.granularity),
                            r.figures) for r in rows]
    groups = accounting.groups(query, sums, projects, top)
    return respond(views.accounting(query, hour_seconds, groups))
