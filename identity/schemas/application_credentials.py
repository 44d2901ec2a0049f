"""Body of POST /v3/users/{user_id}/application_credentials (Keystone allows nothing extra)."""

from __future__ import annotations

from typing import Any

from identity.schemas.common import BOOLEAN, DESCRIPTION, ID, NAME_255, wrapped

ROLE_REF: dict[str, Any] = {
    "type": "object",
    "properties": {"id": ID, "name": NAME_255, "domain_id": {"type": "null"}},
    "anyOf": [{"required": ["id"]}, {"required": ["name"]}],
}

CREATE = wrapped("application_credential", {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": NAME_255,
        "description": DESCRIPTION,
        "secret": {"type": ["string", "null"], "minLength": 1, "maxLength": 4096},
        "expires_at": {"type": ["string", "null"], "maxLength": 64},
        "roles": {"type": "array", "maxItems": 100, "items": ROLE_REF},
        "unrestricted": BOOLEAN,
        "access_rules": {"type": "array", "maxItems": 100},  # refused unless empty: not supported
    },
    "additionalProperties": False,
})
