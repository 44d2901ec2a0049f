"""GET / and GET /v3: Keystone's version discovery documents."""

from __future__ import annotations

from typing import Any

import flask

from identity.service import current

bp = flask.Blueprint("versions", __name__)

VERSION_ID = "v3.14"
UPDATED = "2020-04-07T00:00:00Z"


def _version(base: str) -> dict[str, Any]:
    return {
        "id": VERSION_ID,
        "status": "stable",
        "updated": UPDATED,
        "links": [{"rel": "self", "href": f"{base}/v3/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.identity-v3+json"}],
    }


def _base() -> str:
    endpoint = current().conf.identity
    return endpoint.public_url if endpoint else flask.request.url_root.rstrip("/")


@bp.get("/")
def versions() -> tuple[flask.Response, int]:
    """The list of versions; 300 Multiple Choices, as Keystone answers."""
    return flask.jsonify({"versions": {"values": [_version(_base())]}}), 300


@bp.get("/v3")
def version_v3() -> flask.Response:
    """The v3 version document that clients discover the API from."""
    return flask.jsonify({"version": _version(_base())})
