"""Schema fragments shared by the identity resource bodies (Keystone's parameter types)."""

from __future__ import annotations

from typing import Any

ID: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 64}
NULLABLE_ID: dict[str, Any] = {"type": ["string", "null"], "minLength": 1, "maxLength": 64}
# Keystone: at least one non-blank character.
NAME_64: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"\S"}
NAME_255: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"\S"}
# Stored as TEXT (64 KiB): 10,000 characters fit even at four bytes each.
DESCRIPTION: dict[str, Any] = {"type": ["string", "null"], "maxLength": 10000}
BOOLEAN: dict[str, Any] = {"type": "boolean"}
OPTIONS: dict[str, Any] = {"type": "object"}
TAGS: dict[str, Any] = {
    "type": "array", "maxItems": 80, "uniqueItems": True,
    "items": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[^,/]*$"},
}


def wrapped(key: str, inner: dict[str, Any]) -> dict[str, Any]:
    """A request body ``{key: inner}``: the member object is required, nothing else is allowed."""
    return {"type": "object", "required": [key], "properties": {key: inner},
            "additionalProperties": False}


def update_of(create: dict[str, Any], *, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """The PATCH form of a create schema: nothing required, at least one attribute."""
    properties = {k: v for k, v in create["properties"].items() if k not in drop}
    schema = {k: v for k, v in create.items() if k not in ("required", "properties")}
    return {**schema, "properties": properties, "minProperties": 1}
