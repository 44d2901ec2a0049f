"""The Keystone role body: global roles only, so ``domain_id`` is always null."""

from __future__ import annotations

from typing import Any

from cells.db.identity_models import Role
from identity.views.links import self_link


def role(row: Role) -> dict[str, Any]:
    body: dict[str, Any] = {"id": row.id, "name": row.name, "domain_id": None, "options": {},
                            "links": self_link(f"/roles/{row.id}")}
    if row.description is not None:
        body["description"] = row.description
    return body
