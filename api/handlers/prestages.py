"""os-image-prestages (admin; our extension): push an image to every host of a compute cell."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from api import deps, policy
from api.compute import prestage
from api.deps import respond
from api.schemas import prestages as schemas
from api.store import prestages as store
from api.validation import Schema, json_body, query_int
from api.views import prestages as views
from api.views.links import collection_links
from cells.exception import BadRequest, NotFound
from scheduler.rpcapi import PRESTAGE_OVERRIDES

bp = Blueprint("prestages", __name__, url_prefix=f"/v2.1/{views.COLLECTION}")

CREATE = Schema(schemas.CREATE)


@bp.post("")
def create() -> Response:
    ctxt = policy.context()
    body = json_body()
    CREATE.validate(body)
    spec = body["prestage"]
    token = request.headers.get("X-Auth-Token", "")
    services = deps.services()
    # 2.0 passes the schema as an integer; the cell gets an int.
    settings = {key: int(spec[key]) for key in PRESTAGE_OVERRIDES if key in spec}
    prestage_id = prestage.start(services, ctxt, token, spec["image_id"], spec["cell"], settings)
    row = store.get(services.db, prestage_id)
    assert row is not None
    links = deps.links()
    return respond({"prestage": views.detail(row, links)}, 202,
                   {"Location": links.self_href(views.COLLECTION, prestage_id)})


@bp.get("")
def index() -> Response:
    services = deps.services()
    asked = query_int("limit")
    limit = services.conf.api_max_limit if asked is None else min(asked, services.conf.api_max_limit)
    marker = request.args.get("marker") or None
    rows = store.list_page(services.db, limit, marker) if limit else []
    if rows is None:
        raise BadRequest(f"marker [{(marker or '')[:64]}] not found")
    links = deps.links()
    items = [views.detail(row, links) for row in rows]
    body: dict[str, Any] = {"prestages": items}
    next_links = collection_links(links, views.COLLECTION, list(request.args.items(multi=True)), items,
                                  limit)
    if next_links:
        body["prestages_links"] = next_links
    return respond(body)


@bp.get("/<prestage_id>")
def show(prestage_id: str) -> Response:
    row = store.get(deps.services().db, prestage_id) if len(prestage_id) <= 36 else None
    if row is None:
        raise NotFound(f"Image pre-staging {prestage_id[:64]} could not be found.")
    return respond({"prestage": views.detail(row, deps.links())})
