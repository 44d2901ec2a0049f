"""GET /servers[/detail]: the query string, authorized, turned into one indexed SELECT.

As in Compute 2.1, unknown filters are ignored and operator-only filters
(host, deleted, project_id) are ignored for non-admins; asking for every
project without being an admin is refused.
"""

from __future__ import annotations

import re
from typing import Any

from flask import request
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import DBAPIError

from api.deps import Services
from api.store import servers as server_store
from api.store.servers import ListQuery
from api.validation import query_bool, query_int, query_time
from cells.context import RequestContext
from cells.db.engine import is_retryable
from cells.exception import BadRequest, Forbidden


def _ref(value: str | None) -> str | None:
    return value.rstrip("/").rsplit("/", 1)[-1] if value else None


def _name_filter(value: str | None) -> str | None:
    if not value:
        return None
    if len(value) > 255:
        raise BadRequest("Invalid input for query parameter name: longer than 255 characters.")
    try:
        re.compile(value)
    except re.error as exc:
        raise BadRequest(f"Invalid input for query parameter name: not a regular expression "
                         f"({exc.msg}).") from None
    return value


def parse(ctxt: RequestContext, max_limit: int, detail: bool) -> ListQuery:
    """Return the ListQuery of the current request; raises BadRequest or Forbidden."""
    args = request.args
    all_tenants = query_bool("all_tenants", False)
    if all_tenants and not ctxt.is_admin:
        raise Forbidden("Policy doesn't allow os_compute_api:servers:index:get_all_tenants to be "
                        "performed.")
    if ctxt.project_id is None and not all_tenants:
        if not ctxt.is_admin:
            raise Forbidden("A project-scoped token is required to list servers.")
    project_id = ctxt.project_id
    if all_tenants:
        project_id = args.get("project_id") or args.get("tenant_id") or None
    limit = query_int("limit")
    statuses = [s for s in args.getlist("status") if s]
    changes_since = query_time("changes-since")
    # Like Nova: changes-since shows deletions too; admins may ask for deleted ones explicitly.
    deleted: bool | None = None if changes_since else False
    if ctxt.is_admin:
        asked = query_bool("deleted")
        if asked is not None:
            deleted = asked
        elif any(s.upper() == "DELETED" for s in statuses):
            deleted = None
    return ListQuery(
        project_id=project_id,
        limit=max_limit if limit is None else min(limit, max_limit),
        marker=args.get("marker") or None,
        deleted=deleted,
        changes_since=changes_since,
        name=_name_filter(args.get("name")),
        statuses=statuses,
        image=_ref(args.get("image")),
        flavor=_ref(args.get("flavor")),
        host=args.get("host") if ctxt.is_admin else None,
        detail=detail,
    )


def fetch(services: Services, query: ListQuery) -> list[RowMapping]:
    """Return the page; raises BadRequest for a marker the caller cannot see."""
    if query.limit == 0:
        return []
    try:
        rows = server_store.list_page(services.db, query)
    except DBAPIError as exc:
        # A pattern Python accepts may still be one the database's regex engine refuses.
        if query.name and not is_retryable(exc):
            raise BadRequest("Invalid input for query parameter name: the database cannot "
                             "match this regular expression.") from exc
        raise
    if not rows and query.marker and not server_store.marker_exists(
            services.db, query.marker, query.project_id):
        raise BadRequest(f"marker [{query.marker[:64]}] not found")
    return rows


def query_params() -> list[tuple[str, Any]]:
    """The request's query string as pairs, for the next-page link."""
    return list(request.args.items(multi=True))
