"""GET /v2/schemas/image and /v2/schemas/images: what clients read to learn the attributes."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from images import runtime, schemas

bp = Blueprint("schemas", __name__)


@bp.get("/v2/schemas/image")
def image() -> Response:
    runtime.context()
    return jsonify(schemas.image_document())


@bp.get("/v2/schemas/images")
def images() -> Response:
    runtime.context()
    return jsonify(schemas.images_document())
