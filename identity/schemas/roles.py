"""Bodies of POST and PATCH /v3/roles: global roles only (``domain_id`` must be null)."""

from __future__ import annotations

from typing import Any

from identity.schemas.common import DESCRIPTION, NAME_255, OPTIONS, update_of, wrapped

_ROLE: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": NAME_255, "description": DESCRIPTION, "options": OPTIONS,
                   "domain_id": {"type": "null"}},
    "additionalProperties": True,
}

CREATE = wrapped("role", _ROLE)
UPDATE = wrapped("role", update_of(_ROLE))
