"""Image members (Glance v2): /v2/images/{id}/members[/{member_id}].

``openstack image add project``, ``openstack image set --accept/--reject``
and ``openstack image member list`` call these routes.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from cells.db.image_models import ImageMember
from images import member_schemas, runtime, schemas
from images.handlers.common import json_body
from images.members import Members
from images.views import timestamp

bp = Blueprint("members", __name__)

MEMBER_SCHEMA = "/v2/schemas/member"
MEMBERS_SCHEMA = "/v2/schemas/members"


def view(member: ImageMember) -> dict[str, Any]:
    """Return the Image v2 representation of one member."""
    return {"created_at": timestamp(member.created_at), "image_id": member.image_id,
            "member_id": member.member_id, "schema": MEMBER_SCHEMA, "status": member.status,
            "updated_at": timestamp(member.updated_at)}


def _members() -> Members:
    return Members(runtime.current().registry)


@bp.get("/v2/images/<image_id>/members")
def index(image_id: str) -> Response:
    members = _members().list(runtime.context(), image_id)
    return jsonify({"members": [view(m) for m in members], "schema": MEMBERS_SCHEMA})


@bp.post("/v2/images/<image_id>/members")
def create(image_id: str) -> Response:
    ctx = runtime.context()
    body = json_body()
    schemas.validate(member_schemas.CREATE, body)
    return jsonify(view(_members().add(ctx, image_id, body["member"])))


@bp.get("/v2/images/<image_id>/members/<member_id>")
def show(image_id: str, member_id: str) -> Response:
    return jsonify(view(_members().get(runtime.context(), image_id, member_id)))


@bp.put("/v2/images/<image_id>/members/<member_id>")
def update(image_id: str, member_id: str) -> Response:
    ctx = runtime.context()
    body = json_body()
    schemas.validate(member_schemas.UPDATE, body)
    return jsonify(view(_members().set_status(ctx, image_id, member_id, body["status"])))


@bp.delete("/v2/images/<image_id>/members/<member_id>")
def delete(image_id: str, member_id: str) -> tuple[str, int]:
    _members().remove(runtime.context(), image_id, member_id)
    return "", 204


@bp.get(MEMBER_SCHEMA)
def member_schema() -> Response:
    runtime.context()
    return jsonify(member_schemas.member_document())


@bp.get(MEMBERS_SCHEMA)
def members_schema() -> Response:
    runtime.context()
    return jsonify(member_schemas.members_document())
