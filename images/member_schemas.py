"""JSON Schemas of image members: request bodies, and the documents at /v2/schemas/member(s)."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema

from images.members import STATUSES

_MEMBER_ID = {"type": "string", "minLength": 1, "maxLength": 255}

# Other keys are ignored, as Glance does: openstacksdk sends the whole member resource on update.
CREATE = jsonschema.Draft202012Validator({
    "type": "object", "properties": {"member": _MEMBER_ID}, "required": ["member"]})
UPDATE = jsonschema.Draft202012Validator({
    "type": "object", "properties": {"status": {"type": "string", "enum": list(STATUSES)}},
    "required": ["status"]})

_MEMBER: dict[str, Any] = {
    "name": "member",
    "properties": {
        "created_at": {"type": "string", "description": "Date and time of image member creation"},
        "image_id": {"type": "string", "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                     "-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$", "description": "An identifier for the image"},
        "member_id": {**_MEMBER_ID, "description": "An identifier for the image member (tenantId)"},
        "schema": {"type": "string", "readOnly": True},
        "status": {"type": "string", "enum": list(STATUSES),
                   "description": "The status of this image member"},
        "updated_at": {"type": "string", "description": "Date and time of last modification of image member"},
    },
}


def member_document() -> dict[str, Any]:
    """The document served at /v2/schemas/member."""
    return copy.deepcopy(_MEMBER)


def members_document() -> dict[str, Any]:
    """The document served at /v2/schemas/members."""
    return {"name": "members", "properties": {"members": {"type": "array", "items": member_document()},
                                              "schema": {"type": "string"}},
            "links": [{"rel": "schema", "href": "{schema}"}]}
