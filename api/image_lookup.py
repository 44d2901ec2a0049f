"""Image lookups for boots: Image v2 ``GET /v2/images/{id}`` with the caller's own token, cached.

The caller's token decides what the caller may boot, so the image service
is asked on the caller's behalf; the answer is kept for a short while per
(image, project) so a burst of boots of one image costs one HTTP request.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from cells.exception import NotFound, ServiceUnavailable

# (image_id, project_id, token) -> the image document; raises NotFound or ServiceUnavailable.
ImageLookupFn = Callable[[str, str | None, str], dict[str, Any]]


class HttpImageLookup:
    """Fetches image documents from an Image v2 endpoint."""

    def __init__(self, images_url: str, timeout: float = 10.0, pool_size: int = 16) -> None:
        self.images_url = images_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def __call__(self, image_id: str, project_id: str | None, token: str) -> dict[str, Any]:
        url = f"{self.images_url}/v2/images/{image_id}"
        try:
            response = self.session.get(url, headers={"X-Auth-Token": token,
                                                      "Accept": "application/json"},
                                         timeout=self.timeout)
        except requests.RequestException as exc:
            raise ServiceUnavailable(f"The image service is unavailable ({type(exc).__name__}).") from exc
        # The image service hides other projects' private images behind 404; a 403 means the same.
        if response.status_code in (403, 404):
            raise NotFound(f"Image {image_id} could not be found.")
        if response.status_code != 200:
            raise ServiceUnavailable(f"The image service answered {response.status_code} for image "
                                     f"{image_id}.")
        try:
            document = response.json()
        except ValueError as exc:
            raise ServiceUnavailable("The image service sent a malformed answer.") from exc
        if not isinstance(document, dict) or document.get("id") != image_id:
            raise ServiceUnavailable("The image service sent a malformed answer.")
        return document


class CachedImageLookup:
    """Keeps successful lookups for ``ttl`` seconds per (image, project); failures are not kept."""

    def __init__(self, fetch: ImageLookupFn, ttl: float = 30.0, max_entries: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.fetch = fetch
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str | None], tuple[float, dict[str, Any]]] = OrderedDict()

    def __call__(self, image_id: str, project_id: str | None, token: str) -> dict[str, Any]:
        key = (image_id, project_id)
        now = self.clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                return entry[1]
        document = self.fetch(image_id, project_id, token)
        with self._lock:
            self._entries[key] = (now + self.ttl, document)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return document
