"""The Keystone domain body."""

from __future__ import annotations

from typing import Any

from cells.db.identity_models import Domain
from identity.views.links import self_link


def domain(row: Domain) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "description": row.description or "",
            "enabled": bool(row.enabled), "tags": [], "options": {},
            "links": self_link(f"/domains/{row.id}")}
