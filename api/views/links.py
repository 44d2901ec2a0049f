"""Links as Nova writes them: ``self`` under /v2.1, ``bookmark`` without the version.

When a request names the project in its URL (``/v2.1/{project_id}/servers``)
the links carry it too, so clients that keep project ids in their endpoint
URLs get links of the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

VERSION_PREFIX = "/v2.1"


def clean_base(url: str) -> str:
    """Return the service's root URL from a configured public URL (which may end in /v2.1)."""
    url = url.rstrip("/")
    if url.endswith(VERSION_PREFIX):
        url = url[: -len(VERSION_PREFIX)]
    return url


@dataclass(frozen=True)
class Links:
    """Builds the links of one request's answer."""

    base: str
    project_id: str | None = None

    @property
    def _project(self) -> str:
        return f"/{self.project_id}" if self.project_id else ""

    def self_href(self, collection: str, ident: str) -> str:
        return f"{self.base}{VERSION_PREFIX}{self._project}/{collection}/{ident}"

    def bookmark_href(self, collection: str, ident: str) -> str:
        return f"{self.base}{self._project}/{collection}/{ident}"

    def resource(self, collection: str, ident: str) -> list[dict[str, str]]:
        """``self`` and ``bookmark`` links of one resource."""
        return [{"rel": "self", "href": self.self_href(collection, ident)},
                {"rel": "bookmark", "href": self.bookmark_href(collection, ident)}]

    def bookmark(self, collection: str, ident: str) -> list[dict[str, str]]:
        """The ``bookmark`` link alone (a server's image and flavor)."""
        return [{"rel": "bookmark", "href": self.bookmark_href(collection, ident)}]

    def next_page(self, path: str, params: list[tuple[str, str]], marker: str) -> list[dict[str, str]]:
        """The ``next`` link of a paginated collection at ``path`` (e.g. "servers/detail")."""
        query = [(k, v) for k, v in params if k != "marker"] + [("marker", marker)]
        href = f"{self.base}{VERSION_PREFIX}{self._project}/{path}?{urlencode(query)}"
        return [{"rel": "next", "href": href}]

    def version_root(self) -> str:
        return f"{self.base}{VERSION_PREFIX}/"


def collection_links(links: Links, path: str, params: list[tuple[str, str]],
                     items: list[dict[str, Any]], limit: int, key: str = "id") -> list[dict[str, str]]:
    """Return the ``next`` link when a page came back full, else an empty list."""
    if limit and len(items) >= limit:
        return links.next_page(path, params, str(items[-1][key]))
    return []
