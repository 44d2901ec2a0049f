"""GET /v2/cache/stats: a compute cell's image cache counters (admins and service accounts)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from cells.exception import NotFound
from images import runtime

bp = Blueprint("cache", __name__)


@bp.get("/v2/cache/stats")
def stats() -> Response:
    rt = runtime.current()
    if rt.cache is None:
        raise NotFound("This image service is the master, not a cache: it has no cache statistics.")
    return jsonify({"cache": rt.cache.snapshot()})
