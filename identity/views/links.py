"""Links in Keystone bodies: every entity names itself, every list names its query."""

from __future__ import annotations

from typing import Any

import flask

from identity.service import current


def base_url() -> str:
    """The identity endpoint's public v3 URL (the request's own root if none is configured)."""
    endpoint = current().conf.identity
    root = endpoint.public_url if endpoint else flask.request.url_root.rstrip("/")
    return root + "/v3"


def url(path: str) -> str:
    """The public URL of ``path`` (relative to /v3, starting with '/')."""
    return base_url() + path


def self_link(path: str) -> dict[str, str]:
    return {"self": url(path)}


def collection(key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """``{key: items, links: {self, previous, next}}``; lists are never paginated here."""
    path = flask.request.path
    if path.startswith("/v3"):
        path = path[3:]
    query = flask.request.query_string.decode("utf-8", "replace")
    return {key: items, "links": {"self": url(path) + (f"?{query}" if query else ""),
                                  "previous": None, "next": None}}
