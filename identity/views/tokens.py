"""The Keystone v3 token body."""

from __future__ import annotations

import datetime as dt
from typing import Any

from identity.tokens import Subject


def timestamp(epoch: float) -> str:
    """Keystone's time format: ``2015-11-05T22:00:11.000000Z``."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def token(subject: Subject, claims: dict[str, Any], catalog: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Return ``{"token": {...}}`` for a token's claims and subject; catalog None leaves it out."""
    body: dict[str, Any] = {
        "methods": list(claims.get("methods") or subject.methods),
        "user": {
            "id": subject.user_id,
            "name": subject.user_name,
            "domain": {"id": subject.domain_id, "name": subject.domain_name},
            "password_expires_at": None,
        },
        "audit_ids": list(claims["audit_ids"]),
        "expires_at": timestamp(claims["exp"]),
        "issued_at": timestamp(claims["iat"]),
    }
    if subject.app_cred_id is not None:
        body["application_credential"] = {"id": subject.app_cred_id, "name": subject.app_cred_name,
                                          "restricted": subject.app_cred_restricted}
    if subject.project is not None:
        project = subject.project
        body["project"] = {"id": project.id, "name": project.name,
                           "domain": {"id": project.domain_id, "name": project.domain_name}}
        body["is_domain"] = False
        body["roles"] = [{"id": role_id, "name": name} for role_id, name in subject.roles]
        if catalog is not None:
            body["catalog"] = catalog
    elif subject.domain_scope is not None:
        body["domain"] = {"id": subject.domain_scope.id, "name": subject.domain_scope.name}
        body["roles"] = [{"id": role_id, "name": name} for role_id, name in subject.roles]
        if catalog is not None:
            body["catalog"] = catalog
    elif catalog is not None:
        body["catalog"] = []
    return {"token": body}
