"""Bodies of POST and PATCH /v3/projects.

Keystone stores unknown project attributes as extras; this service has no
extras column, so they are accepted and ignored.
"""

from __future__ import annotations

from typing import Any

from identity.schemas.common import (
    BOOLEAN,
    DESCRIPTION,
    NAME_64,
    NAME_255,
    NULLABLE_ID,
    OPTIONS,
    TAGS,
    update_of,
    wrapped,
)

_PROJECT: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": NAME_64, "description": DESCRIPTION, "enabled": BOOLEAN,
                   "domain_id": NULLABLE_ID, "parent_id": NULLABLE_ID, "is_domain": BOOLEAN,
                   "options": OPTIONS, "tags": TAGS,
                   "quota_class": {"anyOf": [NAME_255, {"type": "null"}]}},
    "additionalProperties": True,
}

CREATE = wrapped("project", _PROJECT)
UPDATE = wrapped("project", update_of(_PROJECT))
