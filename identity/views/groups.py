"""The Keystone group body."""

from __future__ import annotations

from typing import Any

from cells.db.identity_models import Group
from identity.views.links import self_link


def group(row: Group) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "domain_id": row.domain_id,
            "description": row.description or "", "links": self_link(f"/groups/{row.id}")}
