"""Helpers of the resource API tests: tokens, authenticated requests and revocation events."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cells.db.identity_models import RevocationEvent
from tests.unit.identity.conftest import ADMIN_PASSWORD, DEMO_PASSWORD, issue


class Caller:
    """A test client that sends one user's token with every request."""

    def __init__(self, client: Any, token: str) -> None:
        self.client = client
        self.token = token

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        return {"X-Auth-Token": self.token, **(extra or {})}

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self.client.get(path, headers=self._headers(headers))

    def head(self, path: str) -> Any:
        return self.client.head(path, headers=self._headers(None))

    def post(self, path: str, json: Any = None, data: str | None = None) -> Any:
        if data is not None:
            headers = self._headers({"Content-Type": "application/json"})
            return self.client.post(path, data=data, headers=headers)
        return self.client.post(path, json=json, headers=self._headers(None))

    def patch(self, path: str, json: Any) -> Any:
        return self.client.patch(path, json=json, headers=self._headers(None))

    def put(self, path: str) -> Any:
        return self.client.put(path, headers=self._headers(None))

    def delete(self, path: str) -> Any:
        return self.client.delete(path, headers=self._headers(None))


def login(client: Any, user: str, password: str, project: str | None) -> Caller:
    response = issue(client, user, password, project)
    assert response.status_code == 201, response.json
    return Caller(client, response.headers["X-Subject-Token"])


def admin(client: Any) -> Caller:
    return login(client, "admin", ADMIN_PASSWORD, "admin")


def demo(client: Any) -> Caller:
    return login(client, "demo", DEMO_PASSWORD, "demo")


def events(db: Any) -> list[dict[str, Any]]:
    """Every recorded revocation event, as its non-null match fields."""
    fields = ("audit_id", "audit_chain_id", "user_id", "project_id", "domain_id", "application_credential_id")

    def load(session: Any) -> list[dict[str, Any]]:
        rows = session.scalars(sa.select(RevocationEvent).order_by(RevocationEvent.id))
        return [{f: getattr(r, f) for f in fields if getattr(r, f) is not None} for r in rows]

    result: list[dict[str, Any]] = db.transaction(load)
    return result


def new_events(db: Any, before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return events(db)[len(before):]


def create(api: Caller, noun: str, **attrs: Any) -> dict[str, Any]:
    """POST /v3/<noun>s with ``attrs``; returns the created entity (asserts 201)."""
    response = api.post(f"/v3/{noun}s", json={noun: attrs})
    assert response.status_code == 201, response.json
    entity: dict[str, Any] = response.json[noun]
    return entity


def assert_error(response: Any, code: int, words: str = "") -> None:
    """A Keystone error body with ``code``, its message containing ``words``."""
    assert response.status_code == code, (response.status_code, response.json)
    error = response.json["error"]
    assert error["code"] == code and error["title"]
    assert words in error["message"], error["message"]
