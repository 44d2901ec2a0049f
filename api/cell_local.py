"""The cell-local Compute API of a compute cell: read routes over the cell's own database.

A compute cell's ``cloud-api`` serves its own service accounts (the
cell's metering, operators holding the cell's admin role): servers, the
flavors its instances carry, its hypervisors and services, in the same wire
format as the API cell. It never reads the API cell, and users never reach
it: tokens of any other issuer are refused, and so is every write.

Flavors: a compute cell has no flavor table; each instance row carries the
flavor it was booted with (``flavor``, as the API cell embedded it), so
``/flavors`` lists the distinct flavors of the cell's live instances.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, cast

import sqlalchemy as sa
from flask import Blueprint, Response, request
from sqlalchemy.engine import RowMapping

from api import deps, errors, policy
from api.deps import respond
from api.store import servers as server_store
from api.store.servers import ListQuery
from api.validation import query_bool, query_int, query_time
from api.views import flavors as flavor_views
from api.views import hypervisors as hypervisor_views
from api.views import servers as server_views
from api.views.links import VERSION_PREFIX, collection_links
from cells import capacity
from cells.db.cell_models import Instance, Service
from cells.db.types import utcnow
from cells.exception import BadRequest, Forbidden, NotFound

INSTANCES = cast(sa.Table, Instance.__table__)
_READS = ("GET", "HEAD")

bp = Blueprint("cell_local", __name__, url_prefix=VERSION_PREFIX)


# --- who may call ------------------------------------------------------------------

class ReadOnly:
    """Refuses writes whoever asks, before tokens and policy: users write through the API cell."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = (environ.get("REQUEST_METHOD") or "GET").upper()
        if method in _READS:
            return self.app(environ, start_response)
        body = json.dumps(errors.fault_body(405, (
            "This is a compute cell's read-only API for the cell's service accounts; "
            f"send {method[:16]} requests to the API cell's Compute API."))).encode("utf-8")
        start_response("405 Method Not Allowed", [("Content-Type", "application/json"),
                                                  ("Content-Length", str(len(body))),
                                                  ("Allow", "GET, HEAD")])
        return [body]


def guard(public_paths: tuple[str, ...]) -> Callable[[], None]:
    """A before-request check: only tokens of this cell's own identity, with service or admin."""
    def check() -> None:
        if request.path in public_paths:
            return
        ctxt = policy.context()
        cell_path = deps.conf().path
        if ctxt.issuer != cell_path:
            raise Forbidden(f"This cell-local API accepts tokens of cell {cell_path}'s identity "
                            "service only; use the API cell's Compute API.")
        if not (ctxt.is_service or ctxt.is_admin):
            raise Forbidden("This cell-local API serves the cell's service accounts only.")
    return check


# --- servers -----------------------------------------------------------------------

def _ref(value: str | None) -> str | None:
    return value.rstrip("/").rsplit("/", 1)[-1] if value else None


def _list_query(detail: bool) -> ListQuery:
    """Every project's servers (service accounts see all; ``all_tenants`` accepted, not needed)."""
    args = request.args
    query_bool("all_tenants", False)  # validated only
    max_limit = deps.conf().api_max_limit
    limit = query_int("limit")
    changes_since = query_time("changes-since")
    statuses = [s for s in args.getlist("status") if s]
    deleted: bool | None = None if changes_since else False
    asked = query_bool("deleted")
    if asked is not None:
        deleted = asked
    elif any(s.upper() == "DELETED" for s in statuses):
        deleted = None
    return ListQuery(
        project_id=args.get("project_id") or args.get("tenant_id") or None,
        limit=max_limit if limit is None else min(limit, max_limit),
        marker=args.get("marker") or None,
        deleted=deleted,
        changes_since=changes_since,
        statuses=statuses,
        image=_ref(args.get("image")),
        flavor=_ref(args.get("flavor")),
        host=args.get("host") or None,
        detail=detail,
    )


def _fetch(query: ListQuery) -> list[RowMapping]:
    if query.limit == 0:
        return []
    db = deps.db()
    rows = server_store.list_page(db, query, INSTANCES)
    if not rows and query.marker and not server_store.marker_exists(
            db, query.marker, query.project_id, INSTANCES):
        raise BadRequest(f"marker [{query.marker[:64]}] not found")
    return rows


def _servers(detail: bool) -> Response:
    query = _list_query(detail)
    rows = _fetch(query)
    links = deps.links()
    servers = [server_views.detail(row, links, True) if detail else server_views.summary(row, links)
               for row in rows]
    body: dict[str, Any] = {"servers": servers}
    next_links = collection_links(links, "servers/detail" if detail else "servers",
                                  list(request.args.items(multi=True)), servers, query.limit)
    if next_links:
        body["servers_links"] = next_links
    return respond(body)


@bp.get("/servers")
def servers_index() -> Response:
    return _servers(detail=False)


@bp.get("/servers/detail")
def servers_detail() -> Response:
    return _servers(detail=True)


@bp.get("/servers/<server_id>")
def server_show(server_id: str) -> Response:
    c = INSTANCES.c
    with deps.db().engine.connect() as conn:
        row = conn.execute(sa.select(*INSTANCES.columns).where(
            c.uuid == server_id, c.deleted == sa.false())).first()
    if row is None:
        raise NotFound(f"Instance {server_id[:64]} could not be found.")
    return respond({"server": server_views.detail(row._mapping, deps.links(), True)})


# --- flavors -----------------------------------------------------------------------

def _flavor(embedded: dict[str, Any]) -> dict[str, Any] | None:
    """The flavor row shape the views take, from an instance's embedded flavor (None if unusable)."""
    if not isinstance(embedded, dict) or "id" not in embedded:
        return None
    return {"flavorid": str(embedded["id"]), "name": str(embedded.get("name", "")),
            "memory_mb": int(embedded.get("ram") or 0), "vcpus": int(embedded.get("vcpus") or 0),
            "root_gb": int(embedded.get("disk") or 0),
            "ephemeral_gb": int(embedded.get("ephemeral") or 0),
            "swap": int(embedded.get("swap") or 0), "rxtx_factor": 1.0,
            "disabled": False, "is_public": True}


def _flavors() -> list[dict[str, Any]]:
    c = INSTANCES.c
    with deps.db().engine.connect() as conn:
        carried = conn.execute(sa.select(c.flavor).where(c.deleted == sa.false())).scalars().all()
    found: dict[str, dict[str, Any]] = {}
    for embedded in carried:
        flavor = _flavor(embedded)
        if flavor is not None:
            found.setdefault(flavor["flavorid"], flavor)
    return [found[key] for key in sorted(found)]


@bp.get("/flavors")
def flavors_index() -> Response:
    links = deps.links()
    return respond({"flavors": [flavor_views.summary(f, links) for f in _flavors()]})


@bp.get("/flavors/detail")
def flavors_detail() -> Response:
    links = deps.links()
    return respond({"flavors": [flavor_views.detail(f, links) for f in _flavors()]})


@bp.get("/flavors/<flavor_id>")
def flavor_show(flavor_id: str) -> Response:
    for flavor in _flavors():
        if flavor["flavorid"] == flavor_id:
            return respond({"flavor": flavor_views.detail(flavor, deps.links())})
    raise NotFound(f"Flavor {flavor_id[:64]} could not be found.")


# --- hypervisors and services --------------------------------------------------------

def _hosts() -> list[dict[str, Any]]:
    """This cell's hosts, from the same report the cell sends up (ids as the API cell shows them)."""
    conf = deps.conf()
    return hypervisor_views.hosts([capacity.compute_report(deps.db(), conf.path, conf.service_down_time)])


@bp.get("/os-hypervisors")
def hypervisors_index() -> Response:
    return respond({"hypervisors": [hypervisor_views.summary(h) for h in _hosts()]})


@bp.get("/os-hypervisors/detail")
def hypervisors_detail() -> Response:
    return respond({"hypervisors": [hypervisor_views.detail(h) for h in _hosts()]})


@bp.get("/os-hypervisors/<hypervisor_id>")
def hypervisor_show(hypervisor_id: str) -> Response:
    for host in _hosts():
        if host["id"] == hypervisor_id:
            return respond({"hypervisor": hypervisor_views.detail(host)})
    raise NotFound(f"Hypervisor with ID {hypervisor_id[:255]} could not be found.")


def _service(service: Service, down_after: float) -> dict[str, Any]:
    age = (utcnow() - service.last_seen_at).total_seconds()
    return {"id": service.id, "binary": service.binary, "host": service.host,
            "zone": server_views.DEFAULT_AZ,
            "status": "disabled" if service.disabled else "enabled",
            "state": "up" if age <= down_after else "down",
            "updated_at": service.last_seen_at.isoformat(timespec="microseconds"),
            "disabled_reason": service.disabled_reason, "forced_down": False}


@bp.get("/os-services")
def services_index() -> Response:
    stmt = sa.select(Service).order_by(Service.id)
    if request.args.get("host"):
        stmt = stmt.where(Service.host == request.args["host"])
    if request.args.get("binary"):
        stmt = stmt.where(Service.binary == request.args["binary"])
    with deps.db().session() as session:
        rows = session.scalars(stmt).all()
        down_after = deps.conf().service_down_time
        return respond({"services": [_service(s, down_after) for s in rows]})
