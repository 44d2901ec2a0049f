"""os-simple-tenant-usage: every project's usage (admin), or one project's (its readers, admin).

Paged as Nova pages it from microversion 2.40: ``limit`` instances per page
(default and cap: the API's max_limit), ``marker`` the last instance id of the
previous page, and a ``next`` link while a page comes back full.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, request

from api import deps, policy
from api.deps import respond
from api.store import usage as store
from api.validation import query_bool, query_int, query_time
from api.views import usage as views
from cells.db.types import utcnow
from cells.exception import BadRequest, Forbidden

COLLECTION = "os-simple-tenant-usage"
bp = Blueprint("usage", __name__, url_prefix=f"/v2.1/{COLLECTION}")


def _period() -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` of the request: a missing bound is now, as in Nova; the end is capped at now."""
    now = utcnow()
    start = query_time("start") or now
    end = query_time("end") or now
    if not start < end:
        raise BadRequest("Invalid start time. The start time cannot occur after the end time.")
    return start, min(end, now)


def _page() -> tuple[int, str | None]:
    conf = deps.services().conf
    asked = query_int("limit")
    limit = conf.api_max_limit if asked is None else min(asked, conf.api_max_limit)
    marker = request.args.get("marker") or None
    if marker is not None and len(marker) > 36:
        raise BadRequest(f"marker [{marker[:64]}] not found")
    return limit, marker


def _usages(project_id: str | None, detailed: bool, start: dt.datetime,
            stop: dt.datetime) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    limit, marker = _page()
    db = deps.services().db
    # A period starting in the future is cut to nothing by the cap at now.
    usages = store.instance_usages(db, store.Window(start, stop), project_id, marker, limit) \
        if limit and start < stop else []
    index = store.index_rows(db, [u.instance_id for u in usages]) if detailed else {}
    docs = views.tenant_usages(usages, index, start, stop, detailed, utcnow())
    if not limit or len(usages) < limit:
        return docs, []
    # A full page: the next one starts after its last instance.
    path = COLLECTION if project_id is None else f"{COLLECTION}/{project_id}"
    return docs, deps.links().next_page(path, list(request.args.items(multi=True)),
                                        usages[-1].instance_id)


@bp.get("")
def index() -> Response:
    detailed = bool(query_bool("detailed", False))
    start, stop = _period()
    docs, links = _usages(None, detailed, start, stop)
    body: dict[str, Any] = {"tenant_usages": docs}
    if links:
        body["tenant_usages_links"] = links
    return respond(body)


@bp.get("/<tenant_id>")
def show(tenant_id: str) -> Response:
    ctxt = policy.context()
    if len(tenant_id) > 64:
        raise BadRequest("Invalid tenant_id: at most 64 characters.")
    if not policy.owns(ctxt, tenant_id):
        raise Forbidden(f"You are not allowed to see usage of project {tenant_id}.")
    start, stop = _period()
    docs, links = _usages(tenant_id, True, start, stop)
    body: dict[str, Any] = {"tenant_usage": docs[0] if docs else views.empty(tenant_id, start, stop, True)}
    if links:
        body["tenant_usage_links"] = links
    return respond(body)
