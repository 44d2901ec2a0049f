"""Version discovery documents (``GET /`` and ``GET /v2.1/``)."""

from __future__ import annotations

from typing import Any

from api import microversion
from api.views.links import Links

UPDATED = "2013-07-23T11:33:21Z"


def _v21(links: Links) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": microversion.as_string(microversion.MAX_VERSION),
        "min_version": microversion.as_string(microversion.MIN_VERSION),
        "updated": UPDATED,
        "links": [{"rel": "self", "href": links.version_root()}],
    }


def versions(links: Links) -> dict[str, Any]:
    """The root document: every major version served."""
    return {"versions": [_v21(links)]}


def version(links: Links) -> dict[str, Any]:
    """The v2.1 document, with its media types."""
    doc = _v21(links)
    doc["links"].append({"rel": "describedby", "type": "text/html",
                         "href": "http://docs.openstack.org/"})
    doc["media-types"] = [{"base": "application/json",
                           "type": "application/vnd.openstack.compute+json;version=2.1"}]
    return {"version": doc}
