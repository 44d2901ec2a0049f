"""Image data for guests: fetched once per host from the cell-local image endpoint, verified.

``ImageClient`` speaks Image v2 with the cell's service token; ``ImageCache``
keeps one verified file per image under the host's state directory. A
download runs under a per-image lock, so concurrent builds of one image wait
for a single fetch; the file appears (atomically renamed) only once its
checksum matched. Pre-staging may fetch from a peer host instead
(``obtain`` with another source); the same checks apply.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import requests

from compute_agent.errors import ImageInvalid, ImageUnavailable
from compute_agent.paths import check_name

LOG = logging.getLogger(__name__)

_CHUNK = 1 << 20

# Where an image's data comes from: image id -> its bytes in chunks (the cell's endpoint, or a peer).
DataSource = Callable[[str], Iterator[bytes]]


class TokenSource(Protocol):
    """What the agent needs of identity.service_token.ServiceToken."""

    def get(self) -> str: ...

    def invalidate(self) -> None: ...


class ImageClient:
    """GETs image metadata and data from ``base_url`` (the cell's Image v2 endpoint)."""

    def __init__(self, base_url: str, tokens: TokenSource, timeout: float = 300.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.timeout = timeout
        # requests.Session is not meant to be shared between threads: one per thread.
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._guard = threading.Lock()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            with self._guard:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        """Close every connection kept alive to the image endpoint."""
        with self._guard:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def _get(self, path: str, stream: bool = False) -> requests.Response:
        for attempt in (1, 2):
            try:
                response = self._session().get(
                    self.base_url + path, stream=stream, timeout=(5.0, self.timeout),
                    headers={"X-Auth-Token": self.tokens.get()})
            except requests.RequestException as exc:
                raise ImageUnavailable(f"image endpoint unreachable: {type(exc).__name__}") from exc
            if response.status_code == 401 and attempt == 1:
                # The token expired or its key rotated: one fresh token, then give up.
                response.close()
                self.tokens.invalidate()
                continue
            if response.status_code == 404:
                raise ImageInvalid(f"image {path.split('/')[3]} not found")
            if response.status_code >= 500:
                raise ImageUnavailable(f"image endpoint answered {response.status_code}")
            if response.status_code != 200:
                raise ImageInvalid(f"image endpoint refused {path}: HTTP {response.status_code}")
            return response
        raise ImageInvalid("image endpoint refused the service token")

    def metadata(self, image_id: str) -> dict[str, Any]:
        """Return the image's metadata (Image v2 ``GET /v2/images/{id}``)."""
        response = self._get(f"/v2/images/{image_id}")
        try:
            return dict(response.json())
        except ValueError as exc:
            raise ImageUnavailable("image endpoint sent invalid JSON") from exc

    def data(self, image_id: str) -> Iterator[bytes]:
        """Yield the image's data in chunks (``GET /v2/images/{id}/file``)."""
        response = self._get(f"/v2/images/{image_id}/file", stream=True)
        try:
            yield from response.iter_content(_CHUNK)
        except requests.RequestException as exc:
            raise ImageUnavailable(f"image download interrupted: {type(exc).__name__}") from exc
        finally:
            response.close()


def _expected(meta: Mapping[str, Any]) -> tuple[str, str] | None:
    """Return (algorithm, hex digest) to check the data against, strongest first."""
    algo, value = meta.get("os_hash_algo"), meta.get("os_hash_value")
    if algo and value and algo in hashlib.algorithms_available:
        return str(algo), str(value)
    if meta.get("checksum"):
        return "md5", str(meta["checksum"])
    return None


class ImageCache:
    """One host's verified copies of images, by image id."""

    def __init__(self, directory: str, client: ImageClient) -> None:
        self.directory = directory
        self.client = client
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def path(self, image_id: str) -> str:
        return os.path.join(self.directory, check_name("image id", image_id))

    def _lock(self, image_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(image_id, threading.Lock())

    def fetch(self, image: Mapping[str, Any]) -> str:
        """Return the local path of ``image`` ({id, ...metadata}), downloading it on first use.

        Raises ImageInvalid (missing, no checksum, checksum mismatch) or
        ImageUnavailable (endpoint unreachable: worth a retry).
        """
        return self.obtain(image)[0]

    def obtain(self, image: Mapping[str, Any], source: DataSource | None = None) -> tuple[str, int]:
        """Return (local path, bytes downloaded) of ``image``; 0 bytes if it was cached already.

        The data comes from ``source`` (default: the cell's image endpoint) and is
        verified against the image's checksum and size whatever its source.
        Raises as ``fetch``.
        """
        image_id = str(image["id"])
        path = self.path(image_id)
        if os.path.exists(path):
            return path, 0
        with self._lock(image_id):
            if os.path.exists(path):
                return path, 0
            known: Mapping[str, Any] = image
            if not image.get("os_hash_value"):
                # Prefer the image's sha512 to a bare md5: one metadata GET per host and image.
                known = {**image, **self.client.metadata(image_id)}
            expected, size = _expected(known), known.get("size")
            if expected is None:
                raise ImageInvalid(f"image {image_id} has no checksum to verify its data against")
            written = self._download(image_id, path, expected, size, source or self.client.data)
            return path, written

    def _download(self, image_id: str, path: str, expected: tuple[str, str], size: Any,
                  source: DataSource) -> int:
        algo, value = expected
        digest = hashlib.new(algo)
        os.makedirs(self.directory, mode=0o755, exist_ok=True)
        part = f"{path}.part-{threading.get_ident()}"
        written = 0
        try:
            with open(part, "wb") as f:
                for chunk in source(image_id):
                    written += len(chunk)
                    if isinstance(size, int) and written > size:
                        # A source sending more than the image holds is wrong: stop before the disk fills.
                        raise ImageInvalid(f"image {image_id}: more than the expected {size} bytes")
                    digest.update(chunk)
                    f.write(chunk)
            if digest.hexdigest() != value.lower():
                raise ImageInvalid(f"image {image_id}: {algo} of the data does not match the image's")
            if isinstance(size, int) and size != written:
                raise ImageInvalid(f"image {image_id}: got {written} bytes, expected {size}")
            os.chmod(part, 0o644)  # the hypervisor's user reads base images
            os.replace(part, path)
        finally:
            if os.path.exists(part):
                os.unlink(part)
        LOG.info("cached image %s (%d bytes)", image_id, written)
        return written
