"""Bodies of POST and PATCH /v3/users and POST /v3/users/{id}/password.

``personal`` (create only) gives the user a personal project; ``is_service``
marks a cell's service account. Other unknown attributes are accepted and
ignored, as Keystone would keep them as extras.
"""

from __future__ import annotations

from typing import Any

from identity.schemas.common import (
    BOOLEAN,
    DESCRIPTION,
    ID,
    NAME_255,
    NULLABLE_ID,
    OPTIONS,
    update_of,
    wrapped,
)

PASSWORD: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 4096}

_USER: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": NAME_255, "domain_id": ID, "default_project_id": NULLABLE_ID,
                   "description": DESCRIPTION, "enabled": BOOLEAN,
                   "email": {"type": ["string", "null"], "maxLength": 255},
                   "password": {"anyOf": [PASSWORD, {"type": "null"}]},
                   "options": OPTIONS, "personal": BOOLEAN, "is_service": BOOLEAN},
    "additionalProperties": True,
}

CREATE = wrapped("user", _USER)
UPDATE = wrapped("user", update_of(_USER))

CHANGE_PASSWORD = wrapped("user", {
    "type": "object",
    "required": ["original_password", "password"],
    "properties": {"original_password": {"type": "string", "maxLength": 4096}, "password": PASSWORD},
    "additionalProperties": False,
})
