"""JSON Schemas: what requests may carry, and the documents served at /v2/schemas/*."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import jsonschema

from cells.exception import BadRequest, Forbidden

UUID_PATTERN = r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"

DISK_FORMATS = ["ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"]
CONTAINER_FORMATS = ["ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"]
VISIBILITIES = ["public", "private", "shared", "community"]
STATUSES = ["queued", "saving", "active", "killed", "deleted", "pending_delete"]

# Attributes a client may set; every other key is a free-form string property.
WRITABLE = ("name", "visibility", "protected", "disk_format", "container_format",
            "min_disk", "min_ram", "tags", "owner", "os_hidden")
READ_ONLY = frozenset({"id", "status", "size", "virtual_size", "checksum", "os_hash_algo",
                       "os_hash_value", "created_at", "updated_at", "self", "file", "schema",
                       "deleted", "deleted_at"})
RESERVED = frozenset({"location", "locations", "direct_url", "stores"})

_INT32 = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}

_ATTRIBUTES: dict[str, Any] = {
    "name": {"type": ["string", "null"], "maxLength": 255},
    "visibility": {"type": "string", "enum": VISIBILITIES},
    "protected": {"type": "boolean"},
    "disk_format": {"type": ["string", "null"], "enum": [*DISK_FORMATS, None]},
    "container_format": {"type": ["string", "null"], "enum": [*CONTAINER_FORMATS, None]},
    "min_disk": _INT32,
    "min_ram": _INT32,
    "tags": {"type": "array", "maxItems": 128,
             "items": {"type": "string", "minLength": 1, "maxLength": 255}},
    "owner": {"type": ["string", "null"], "maxLength": 255},
    # Hidden images are not supported: accepted only as false, as clients send it.
    "os_hidden": {"type": "boolean", "const": False},
}

_PROPERTY = {"type": "string", "maxLength": 65535}

_IMAGE: dict[str, Any] = {
    "type": "object",
    "properties": _ATTRIBUTES,
    "propertyNames": {"minLength": 1, "maxLength": 255},
    "additionalProperties": _PROPERTY,
}

_CREATE: dict[str, Any] = {
    **_IMAGE,
    "properties": {**_ATTRIBUTES, "id": {"type": "string", "pattern": UUID_PATTERN}},
}

_PATCH: dict[str, Any] = {
    "type": "array",
    "maxItems": 1000,
    "items": {
        "type": "object",
        "required": ["op", "path"],
        "additionalProperties": False,
        "properties": {
            "op": {"enum": ["add", "replace", "remove"]},
            "path": {"type": "string", "pattern": "^/[^/]+$"},
            "value": {},
            "json_schema_version": {"type": "integer"},
        },
        "if": {"properties": {"op": {"enum": ["add", "replace"]}}},
        "then": {"required": ["value"]},
    },
}

# A whole image after a patch, a create request's body, a patch document.
IMAGE = jsonschema.Draft202012Validator(_IMAGE)
CREATE = jsonschema.Draft202012Validator(_CREATE)
PATCH = jsonschema.Draft202012Validator(_PATCH)


def validate(validator: jsonschema.protocols.Validator, data: Any, what: str = "request body") -> None:
    """Raise BadRequest naming the first offending field if ``data`` does not match."""
    error = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if error is None:
        return
    where = "/".join(str(p) for p in error.absolute_path)
    detail = error.message if len(error.message) <= 300 else error.message[:300] + "..."
    raise BadRequest(f"Invalid {what}" + (f" at '{where}'" if where else "") + f": {detail}")


def check_settable(keys: Iterable[str]) -> None:
    """Raise Forbidden for an attribute no client may set."""
    for key in keys:
        if key in RESERVED:
            raise Forbidden(f"Attribute '{key}' is reserved.")
        if key in READ_ONLY:
            raise Forbidden(f"Attribute '{key}' is read-only.")


def unique(items: Iterable[str]) -> list[str]:
    """Return the items without repeats, first occurrence first (tags are a set)."""
    return list(dict.fromkeys(items))


def _published_image() -> dict[str, Any]:
    props = copy.deepcopy(_ATTRIBUTES)
    props["os_hidden"] = {"type": "boolean", "description": "Always false: hidden images are not "
                          "supported."}
    read_only = {
        "id": {"type": "string", "pattern": UUID_PATTERN, "description": "An identifier for the image"},
        "status": {"type": "string", "enum": STATUSES, "readOnly": True},
        "size": {"type": ["null", "integer"], "readOnly": True},
        "virtual_size": {"type": ["null", "integer"], "readOnly": True},
        "checksum": {"type": ["null", "string"], "maxLength": 32, "readOnly": True},
        "os_hash_algo": {"type": ["null", "string"], "maxLength": 64, "readOnly": True},
        "os_hash_value": {"type": ["null", "string"], "maxLength": 128, "readOnly": True},
        "created_at": {"type": "string", "readOnly": True},
        "updated_at": {"type": "string", "readOnly": True},
        "self": {"type": "string", "readOnly": True},
        "file": {"type": "string", "readOnly": True},
        "schema": {"type": "string", "readOnly": True},
    }
    return {
        "name": "image",
        "properties": {**props, **read_only},
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }


def image_document() -> dict[str, Any]:
    """Return the schema document served at GET /v2/schemas/image."""
    return _published_image()


def images_document() -> dict[str, Any]:
    """Return the schema document served at GET /v2/schemas/images."""
    return {
        "name": "images",
        "properties": {
            "images": {"type": "array", "items": _published_image()},
            "schema": {"type": "string"},
            "first": {"type": "string"},
            "next": {"type": "string"},
        },
        "links": [
            {"rel": "first", "href": "{first}"},
            {"rel": "next", "href": "{next}"},
            {"rel": "describedby", "href": "{schema}"},
        ],
    }
