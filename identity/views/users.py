"""The Keystone user body, plus ``personal`` and ``is_service``.

``personal``: the user's default project is its personal project (the one
created with it, which carries the personal quota class).
"""

from __future__ import annotations

from typing import Any

from cells.db.identity_models import User
from identity.views.links import self_link


def user(row: User, personal: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"id": row.id, "name": row.name, "domain_id": row.domain_id,
                            "enabled": bool(row.enabled), "password_expires_at": None,
                            "options": {}, "personal": personal, "is_service": bool(row.is_service),
                            "links": self_link(f"/users/{row.id}")}
    # Keystone shows these only when they are set.
    if row.default_project_id:
        body["default_project_id"] = row.default_project_id
    if row.description:
        body["description"] = row.description
    if row.email:
        body["email"] = row.email
    return body
