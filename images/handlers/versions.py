"""Version discovery: GET /, GET /versions (unauthenticated, as clients expect)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from images import runtime

bp = Blueprint("versions", __name__)

CURRENT = "v2.9"
SUPPORTED = [f"v2.{minor}" for minor in range(8, -1, -1)]


def document() -> dict[str, Any]:
    """Return the version list, with links to this endpoint's public URL."""
    rt = runtime.current()
    base = rt.conf.images.public_url if rt.conf.images else request.host_url.rstrip("/")
    href = f"{base.rstrip('/')}/v2/"

    def version(vid: str, status: str) -> dict[str, Any]:
        return {"id": vid, "status": status, "links": [{"rel": "self", "href": href}]}

    return {"versions": [version(CURRENT, "CURRENT"), *(version(v, "SUPPORTED") for v in SUPPORTED)]}


@bp.get("/")
def root() -> Response:
    response = jsonify(document())
    # Like Glance: the root lists choices.
    response.status_code = 300
    return response


@bp.get("/versions")
@bp.get("/v2")
@bp.get("/v2/")
def versions() -> Response:
    return jsonify(document())
