"""Servers: boot, list, show, delete, and the start/stop/reboot/createImage actions."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from api import deps, policy
from api.compute import actions, boot, listing, snapshot
from api.deps import respond
from api.schemas import server_actions as action_schemas
from api.schemas import servers as schemas
from api.validation import Schema, json_body
from api.views import servers as views
from api.views.links import collection_links
from cells.context import RequestContext
from cells.exception import BadRequest

bp = Blueprint("servers", __name__, url_prefix="/v2.1/servers")

CREATE = Schema(schemas.CREATE)

# action key in the body -> schema of the body
_ACTIONS: dict[str, Schema] = {
    "os-stop": Schema(action_schemas.STOP),
    "os-start": Schema(action_schemas.START),
    "reboot": Schema(action_schemas.REBOOT),
    "createImage": Schema(action_schemas.CREATE_IMAGE),
}


@bp.post("")
def create() -> Response:
    ctxt = policy.context()
    policy.require_project(ctxt)
    body = json_body()
    CREATE.validate(body)
    req = boot.parse(body)
    token = request.headers.get("X-Auth-Token", "")
    uuids = boot.boot(deps.services(), ctxt, token, req)
    links = deps.links()
    location = {"Location": links.self_href("servers", uuids[0])}
    if req.return_reservation_id:
        return respond({"reservation_id": "r-" + uuids[0].split("-")[0]}, 202, location)
    return respond(views.created(uuids[0], req.admin_pass or boot.new_admin_pass(), links), 202,
                   location)


def _list(detail: bool) -> Response:
    ctxt = policy.context()
    services = deps.services()
    query = listing.parse(ctxt, services.conf.api_max_limit, detail)
    rows = listing.fetch(services, query)
    links = deps.links()
    if detail:
        servers = [views.detail(row, links, ctxt.is_admin) for row in rows]
    else:
        servers = [views.summary(row, links) for row in rows]
    body: dict[str, Any] = {"servers": servers}
    next_links = collection_links(links, "servers/detail" if detail else "servers",
                                  listing.query_params(), servers, query.limit)
    if next_links:
        body["servers_links"] = next_links
    return respond(body)


@bp.get("")
def index() -> Response:
    return _list(detail=False)


@bp.get("/detail")
def detail() -> Response:
    return _list(detail=True)


@bp.get("/<server_id>")
def show(server_id: str) -> Response:
    ctxt = policy.context()
    row = actions.load(deps.services(), ctxt, server_id)
    return respond({"server": views.detail(row, deps.links(), ctxt.is_admin)})


@bp.delete("/<server_id>")
def delete(server_id: str) -> Response:
    ctxt = policy.context()
    actions.perform(deps.services(), ctxt, server_id, "delete")
    return Response(status=204)


@bp.post("/<server_id>/action")
def action(server_id: str) -> Response:
    ctxt = policy.context()
    body = json_body()
    if not isinstance(body, dict) or not body:
        raise BadRequest("Malformed request body: expected an object naming one action.")
    name = next(iter(body))
    if name not in _ACTIONS:
        raise BadRequest(f"There is no such action: {name[:64]}")
    if len(body) > 1:
        raise BadRequest("Malformed request body: one action per request.")
    _ACTIONS[name].validate(body)
    if name == "createImage":
        return _create_image(ctxt, server_id, body["createImage"])
    if name == "os-stop":
        state_action = "stop"
    elif name == "os-start":
        state_action = "start"
    else:
        state_action = "reboot_hard" if body["reboot"]["type"].upper() == "HARD" else "reboot"
    actions.perform(deps.services(), ctxt, server_id, state_action)
    return Response(status=202)


def _create_image(ctxt: RequestContext, server_id: str, args: dict[str, Any]) -> Response:
    services = deps.services()
    token = request.headers.get("X-Auth-Token", "")
    image_id = snapshot.create_image(services, ctxt, token, server_id, args["name"],
                                     args.get("metadata") or {})
    # Nova answers with the image's URL in Location before microversion 2.45 and with a body
    # from 2.45 on. We serve 2.1 and send both: either kind of client finds the id.
    return respond({"image_id": image_id}, 202, {"Location": services.snapshot_images.location(image_id)})
