"""The Keystone project body, plus ``quota_class``.

A top-level project shows its domain as ``parent_id``, as in Keystone,
where every domain is also the root project of its tree.
"""

from __future__ import annotations

from typing import Any

from cells.db.identity_models import Project
from identity.views.links import self_link


def project(row: Project) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "domain_id": row.domain_id,
            "parent_id": row.parent_id or row.domain_id, "description": row.description or "",
            "enabled": bool(row.enabled), "is_domain": False, "tags": [], "options": {},
            "quota_class": row.quota_class, "links": self_link(f"/projects/{row.id}")}
