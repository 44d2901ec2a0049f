"""Bodies of POST and PATCH /v3/domains."""

from __future__ import annotations

from typing import Any

from identity.schemas.common import BOOLEAN, DESCRIPTION, ID, NAME_64, OPTIONS, TAGS, update_of, wrapped

_DOMAIN: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": NAME_64, "description": DESCRIPTION, "enabled": BOOLEAN,
                   "options": OPTIONS, "tags": TAGS, "explicit_domain_id": ID},
    "additionalProperties": False,
}

CREATE = wrapped("domain", _DOMAIN)
UPDATE = wrapped("domain", update_of(_DOMAIN, drop=("explicit_domain_id",)))
