"""Image quotas: GET /v2/info/usage (Glance's usage document), GET/PUT /v2/quotas/{project_id} (ours).

Reading another project's usage, and reading or setting any project's limits,
is for admins; the route policy lets members reach /v2/info/usage for their
own project only.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy.orm import Session

from cells.context import RequestContext
from cells.exception import BadRequest, Forbidden
from images import quota, runtime
from images.handlers.common import json_body

bp = Blueprint("quotas", __name__)

# A BIGINT column holds the byte limits.
_MAX = 2**63 - 1


def _project(ctx: RequestContext, requested: str | None) -> str:
    if requested and requested != ctx.project_id:
        if not ctx.is_admin:
            raise Forbidden("Only an administrator may read another project's usage.")
        return requested
    if not ctx.project_id:
        raise BadRequest("The token is not scoped to a project: pass project_id.")
    return ctx.project_id


def _document(s: Session, project_id: str) -> dict[str, Any]:
    conf = runtime.current().conf
    lim, used = quota.limits(s, conf, project_id), quota.usage(s, project_id)
    return {"usage": {
        "image_size_total": {"limit": lim.image_bytes, "usage": used.image_bytes},
        "image_count_total": {"limit": lim.images, "usage": used.images},
        "image_snapshot_size_total": {"limit": lim.snapshot_bytes, "usage": used.snapshot_bytes},
    }}


@bp.before_request
def _master_only() -> None:
    if runtime.current().cache is not None:
        raise BadRequest("Image quotas are kept by the master image service, not a cell's cache.")


@bp.get("/v2/info/usage")
def usage() -> Response:
    rt, ctx = runtime.current(), runtime.context()
    project_id = _project(ctx, request.args.get("project_id"))
    return jsonify(rt.registry.db.transaction(lambda s: _document(s, project_id)))


def _quota_body(s: Session, project_id: str) -> dict[str, Any]:
    lim = quota.limits(s, runtime.current().conf, project_id)
    return {"quota": {"project_id": project_id, "images": lim.images, "image_bytes": lim.image_bytes,
                      "snapshot_bytes": lim.snapshot_bytes},
            "usage": _document(s, project_id)["usage"]}


@bp.get("/v2/quotas/<project_id>")
def show(project_id: str) -> Response:
    rt = runtime.current()
    return jsonify(rt.registry.db.transaction(lambda s: _quota_body(s, project_id)))


def _validate(body: Any) -> dict[str, int | None]:
    if not isinstance(body, dict) or set(body) != {"quota"} or not isinstance(body["quota"], dict):
        raise BadRequest('The request body must be {"quota": {"images", "image_bytes", "snapshot_bytes"}}.')
    values = body["quota"]
    unknown = sorted(set(values) - set(quota.FIELDS))
    if unknown:
        raise BadRequest(f"Unknown quota field(s): {', '.join(unknown)}.")
    if not values:
        raise BadRequest("Give at least one of images, image_bytes, snapshot_bytes.")
    for field, value in values.items():
        ok = value is None or (isinstance(value, int) and not isinstance(value, bool)
                               and -1 <= value <= _MAX)
        if not ok:
            raise BadRequest(f"Invalid {field} {value!r}: an integer >= -1 (-1 unlimited) or null "
                             "(the default).")
    return dict(values)


@bp.put("/v2/quotas/<project_id>")
def update(project_id: str) -> Response:
    rt = runtime.current()
    values = _validate(json_body())

    def store(s: Session) -> dict[str, Any]:
        quota.set_limits(s, project_id, values)
        return _quota_body(s, project_id)

    return jsonify(rt.registry.db.transaction(store))
