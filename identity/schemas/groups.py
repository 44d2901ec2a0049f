"""Bodies of POST and PATCH /v3/groups (unknown attributes accepted and ignored, as extras)."""

from __future__ import annotations

from typing import Any

from identity.schemas.common import DESCRIPTION, ID, NAME_64, update_of, wrapped

_GROUP: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": NAME_64, "description": DESCRIPTION, "domain_id": ID},
    "additionalProperties": True,
}

CREATE = wrapped("group", _GROUP)
UPDATE = wrapped("group", update_of(_GROUP))
