"""Images: POST /v2/images, GET /v2/images[/{id}], PATCH and DELETE /v2/images/{id}."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request

from cells import image_properties
from cells.db.image_models import Image
from cells.exception import BadRequest, Forbidden
from images import listing, policy, quota, relay, runtime, schemas, views
from images import patch as patch_mod
from images.errors import UnsupportedMediaType
from images.handlers.common import json_body
from images.schemas import check_settable, unique

LOG = logging.getLogger(__name__)

bp = Blueprint("images", __name__)

PATCH_MEDIA_TYPE = "application/openstack-images-v2.1-json-patch"

# Request attributes stored in their own columns; the rest are properties.
_COLUMNS = ("name", "disk_format", "container_format", "min_disk", "min_ram", "visibility",
            "protected", "owner")


@bp.post("/v2/images")
def create() -> tuple[Response, int, dict[str, str]]:
    rt, ctx = runtime.current(), runtime.context()
    body = json_body()
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object describing the image.")
    check_settable(k for k in body if k != "id")
    schemas.validate(schemas.CREATE, body)
    image_properties.check(body)
    values: dict[str, Any] = {k: body[k] for k in _COLUMNS if k in body}
    values.setdefault("visibility", "shared")
    policy.check_visibility(ctx, values["visibility"])
    if "owner" not in body:
        values["owner"] = ctx.project_id
    policy.check_owner(ctx, values["owner"])
    values["tags"] = unique(body.get("tags", []))
    values["properties"] = {k: v for k, v in body.items()
                            if k not in _COLUMNS and k not in ("id", "tags", "os_hidden")}
    values["id"] = body.get("id")
    owner = values["owner"] or ctx.project_id or ""
    rt.registry.db.transaction(lambda s: quota.check_count(s, rt.conf, owner))
    img = rt.registry.create(ctx, values)
    LOG.info("image %s created by project %s", img.id, ctx.project_id)
    return jsonify(views.image(img)), 201, {"Location": f"/v2/images/{img.id}"}


@bp.get("/v2/images")
def index() -> Response:
    rt, ctx = runtime.current(), runtime.context()
    imgs, next_marker = listing.page(rt.registry, ctx, listing.parse_list_query(request.args))
    return jsonify(views.images(imgs, list(request.args.items(multi=True)), next_marker))


@bp.get("/v2/images/<image_id>")
def show(image_id: str) -> Response:
    rt, ctx = runtime.current(), runtime.context()
    img = rt.cache.metadata(image_id) if rt.cache else rt.registry.get(ctx, image_id)
    return jsonify(views.image(img))


@bp.patch("/v2/images/<image_id>")
def update(image_id: str) -> Response:
    rt, ctx = runtime.current(), runtime.context()
    if request.mimetype != PATCH_MEDIA_TYPE:
        raise UnsupportedMediaType(f"Unsupported Content-Type {request.mimetype or '(none)'!r}: "
                                   f"use {PATCH_MEDIA_TYPE}.")
    ops = json_body()
    schemas.validate(schemas.PATCH, ops, "patch document")

    def change(img: Image) -> None:
        policy.check_modify(ctx, img)
        patch_mod.apply(ctx, img, ops)

    img = rt.registry.update(ctx, image_id, change)
    return jsonify(views.image(img))


@bp.delete("/v2/images/<image_id>")
def delete(image_id: str) -> tuple[str, int] | Response:
    rt, ctx = runtime.current(), runtime.context()
    if rt.cache:
        return relay.delete(rt.cache, rt.registry, ctx, rt.conf.path, image_id)

    def check(img: Image) -> None:
        policy.check_write_data(ctx, img, "delete")
        if img.protected:
            raise Forbidden(f"Image {img.id} is protected and cannot be deleted.")

    img = rt.registry.delete(ctx, image_id, check)
    # The row is gone first: a reader never finds an image whose data vanished.
    rt.store.delete(img.id)
    LOG.info("image %s deleted by project %s", img.id, ctx.project_id)
    return "", 204
