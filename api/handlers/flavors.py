"""Flavors: list and show for everyone, create and delete for admins.

Reads are served from the in-memory flavor cache, so they cost no SELECT in
steady state; writes go to the API cell's database and invalidate it.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, request

from api import deps, policy
from api.deps import respond
from api.schemas import flavors as schemas
from api.store import flavors as flavor_store
from api.validation import Schema, json_body, query_int
from api.views import flavors as views
from api.views.links import collection_links
from cells.context import RequestContext
from cells.exception import BadRequest, NotFound

bp = Blueprint("flavors", __name__, url_prefix="/v2.1/flavors")

CREATE = Schema(schemas.CREATE)

# Nova's sort keys (database column names); "id" is our API id.
_SORT_KEYS = {"flavorid": "flavorid", "id": "flavorid", "name": "name", "memory_mb": "memory_mb",
              "vcpus": "vcpus", "root_gb": "root_gb", "ephemeral_gb": "ephemeral_gb",
              "swap": "swap", "rxtx_factor": "rxtx_factor", "created_at": "created_at",
              "is_public": "is_public", "disabled": "disabled"}


def _is_public_filter(ctxt: RequestContext) -> bool | None:
    """True: public only; False: private only; None: all. Non-admins see public flavors only."""
    text = request.args.get("is_public")
    if not ctxt.is_admin:
        return True
    if text is None:
        return True
    lowered = text.strip().lower()
    if lowered == "none":
        return None
    if lowered in ("1", "t", "true", "on", "y", "yes"):
        return True
    if lowered in ("0", "f", "false", "off", "n", "no"):
        return False
    raise BadRequest(f"Invalid is_public filter [{text[:32]}]")


def _min_filter(name: str) -> int | None:
    text = request.args.get(name)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"Invalid {name} filter [{text[:32]}]") from None


def _sorted(flavors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    key = request.args.get("sort_key", "flavorid")
    direction = request.args.get("sort_dir", "asc")
    if key not in _SORT_KEYS:
        raise BadRequest(f"Invalid input for query parameter sort_key: {key[:32]!r}.")
    if direction not in ("asc", "desc"):
        raise BadRequest(f"Invalid input for query parameter sort_dir: {direction[:32]!r}.")
    column = _SORT_KEYS[key]
    if column == "flavorid" and direction == "asc":
        return flavors  # the cache's own order
    return sorted(flavors, key=lambda f: (f[column], f["flavorid"]), reverse=direction == "desc")


def _visible(ctxt: RequestContext) -> list[dict[str, Any]]:
    is_public = _is_public_filter(ctxt)
    min_ram, min_disk = _min_filter("minRam"), _min_filter("minDisk")
    result = []
    for flavor in deps.services().flavors.all():
        if is_public is not None and bool(flavor["is_public"]) != is_public:
            continue
        if min_ram is not None and flavor["memory_mb"] < min_ram:
            continue
        if min_disk is not None and flavor["root_gb"] < min_disk:
            continue
        result.append(flavor)
    return _sorted(result)


def _page(flavors: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    max_limit = deps.services().conf.api_max_limit
    asked = query_int("limit")
    limit = max_limit if asked is None else min(asked, max_limit)
    marker = request.args.get("marker")
    if marker is not None:
        ids = [f["flavorid"] for f in flavors]
        if marker not in ids:
            raise BadRequest(f"Marker {marker[:64]} could not be found.")
        flavors = flavors[ids.index(marker) + 1:]
    return flavors[:limit], limit


def _list(detail: bool) -> Response:
    ctxt = policy.context()
    page, limit = _page(_visible(ctxt))
    links = deps.links()
    view = views.detail if detail else views.summary
    body: dict[str, Any] = {"flavors": [view(f, links) for f in page]}
    next_links = collection_links(links, "flavors/detail" if detail else "flavors",
                                  list(request.args.items(multi=True)),
                                  [{"id": f["flavorid"]} for f in page], limit if page else 0)
    if next_links:
        body["flavors_links"] = next_links
    return respond(body)


@bp.get("")
def index() -> Response:
    return _list(detail=False)


@bp.get("/detail")
def detail() -> Response:
    return _list(detail=True)


def _find(ctxt: RequestContext, flavor_id: str) -> dict[str, Any]:
    flavor = deps.services().flavors.get(flavor_id)
    if flavor is None or not (flavor["is_public"] or ctxt.is_admin):
        raise NotFound(f"Flavor {flavor_id} could not be found.")
    return flavor


@bp.get("/<flavor_id>")
def show(flavor_id: str) -> Response:
    ctxt = policy.context()
    return respond({"flavor": views.detail(_find(ctxt, flavor_id), deps.links())})


@bp.get("/<flavor_id>/os-extra_specs")
def extra_specs(flavor_id: str) -> Response:
    ctxt = policy.context()
    flavor = _find(ctxt, flavor_id)
    return respond({"extra_specs": {k: str(v) for k, v in (flavor["extra_specs"] or {}).items()}})


@bp.get("/<flavor_id>/os-flavor-access")
def access(flavor_id: str) -> Response:
    ctxt = policy.context()
    flavor = _find(ctxt, flavor_id)
    if flavor["is_public"]:
        raise NotFound("Access list not available for public flavors.")
    # Private flavors are admin-only here: no project has been granted access.
    return respond({"flavor_access": []})


def _as_bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() in ("true", "1")


@bp.post("")
def create() -> Response:
    body = json_body()
    CREATE.validate(body)
    spec = body["flavor"]
    flavor_id = spec.get("id")
    if flavor_id is None or flavor_id == "auto":
        flavor_id = str(uuid.uuid4())
    values = {
        "flavorid": flavor_id,
        "name": spec["name"],
        "memory_mb": int(spec["ram"]),
        "vcpus": int(spec["vcpus"]),
        "root_gb": int(spec["disk"]),
        "ephemeral_gb": int(spec.get("OS-FLV-EXT-DATA:ephemeral", 0)),
        "swap": int(spec.get("swap", 0)),
        "rxtx_factor": float(spec.get("rxtx_factor", 1.0)),
        "is_public": _as_bool(spec.get("os-flavor-access:is_public", True)),
        "disabled": False,
        "extra_specs": {},
    }
    services = deps.services()
    row = flavor_store.create(services.db, values)
    services.flavors.invalidate()
    return respond({"flavor": views.detail(row, deps.links())})


@bp.delete("/<flavor_id>")
def delete(flavor_id: str) -> Response:
    services = deps.services()
    flavor_store.delete(services.db, flavor_id)
    services.flavors.invalidate()
    return Response(status=202)
