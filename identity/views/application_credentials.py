"""The Keystone application credential body; the secret appears in the create response only."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cells.db.identity_models import ApplicationCredential
from identity.views.links import self_link


def timestamp(when: dt.datetime | None) -> str | None:
    """Keystone's format for ``expires_at``: ``2018-02-27T18:30:59.000000`` (UTC)."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%f") if when is not None else None


def application_credential(row: ApplicationCredential, role_names: dict[str, str],
                           secret: str | None = None) -> dict[str, Any]:
    """``role_names`` maps role ids to names; roles deleted since are left out."""
    body: dict[str, Any] = {
        "id": row.id, "name": row.name, "description": row.description, "user_id": row.user_id,
        "project_id": row.project_id,
        "roles": [{"id": r, "name": role_names[r], "domain_id": None} for r in row.roles if r in role_names],
        "expires_at": timestamp(row.expires_at), "unrestricted": bool(row.unrestricted),
        "access_rules": [],
        "links": self_link(f"/users/{row.user_id}/application_credentials/{row.id}"),
    }
    if secret is not None:
        body["secret"] = secret
    return body
