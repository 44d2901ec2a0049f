"""The cache's client of the master image service (Image v2 over HTTP, a service token)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import requests

from cells.exception import NotFound, ServiceUnavailable
from images.streams import CHUNK_SIZE

LOG = logging.getLogger(__name__)

# Connect quickly or give up; a read may wait on a busy master for a while.
TIMEOUT = (10.0, 120.0)


class MasterClient:
    """Fetches image metadata and data from the master with the cell's service token."""

    def __init__(self, base_url: str, token: Callable[[], str],
                 invalidate: Callable[[], None] | None = None,
                 session: requests.Session | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._invalidate = invalidate
        self._session = session or requests.Session()

    def image(self, image_id: str) -> dict[str, Any]:
        """Return the master's Image v2 representation; raises NotFound or ServiceUnavailable."""
        response = self._get(f"/v2/images/{image_id}", stream=False)
        try:
            body = response.json()
        except ValueError as exc:
            raise ServiceUnavailable("The master image service sent an unreadable answer.") from exc
        if not isinstance(body, dict) or body.get("id") != image_id:
            raise ServiceUnavailable("The master image service sent an unexpected image.")
        return body

    @contextmanager
    def data(self, image_id: str, chunk_size: int = CHUNK_SIZE) -> Iterator[Iterator[bytes]]:
        """Yield the image's data from the master as an iterator of chunks; closes the connection after."""
        response = self._get(f"/v2/images/{image_id}/file", stream=True)
        try:
            yield _chunks(response, chunk_size)
        finally:
            response.close()

    def write(self, method: str, path: str, body: Iterable[bytes] | None = None,
              length: int | None = None, headers: Mapping[str, str] | None = None) -> requests.Response:
        """Send a write the cell relays (a snapshot's data or removal); returns the master's answer.

        ``body`` is streamed once (with ``length`` as its Content-Length, or
        chunked), so a 401 is retried with a fresh token only without a body (with one,
        the token is renewed for the next attempt).
        Raises ServiceUnavailable if the master cannot be reached.
        """
        data: _Body | bytes | None = None if body is None else b"" if length == 0 else _Body(body, length)
        response = self._send_write(method, path, data, headers)
        if response.status_code == 401 and self._invalidate is not None:
            # Our token was refused (revoked, or its key rotated away): log in again. A streamed
            # body cannot be sent twice, so only a write without one is retried here; the next
            # attempt of an upload then goes with the fresh token.
            self._invalidate()
            if body is None:
                response.close()
                response = self._send_write(method, path, None, headers)
        return response

    def _send_write(self, method: str, path: str, data: _Body | bytes | None,
                    headers: Mapping[str, str] | None) -> requests.Response:
        sent = {**(headers or {}), "X-Auth-Token": self._token(), "Accept": "application/json"}
        try:
            return self._session.request(method, self.base_url + path, data=data, headers=sent,
                                         timeout=TIMEOUT)
        except requests.RequestException as exc:
            LOG.warning("master image service unreachable at %s: %s", self.base_url, type(exc).__name__)
            raise ServiceUnavailable("The master image service is unreachable.") from exc

    def _get(self, path: str, stream: bool) -> requests.Response:
        response = self._send(path, stream)
        if response.status_code == 401 and self._invalidate is not None:
            # Our token may have been revoked or rotated away: log in again, once.
            response.close()
            self._invalidate()
            response = self._send(path, stream)
        if response.status_code == 200:
            return response
        response.close()
        if response.status_code == 404:
            raise NotFound(f"No image found at the master for {path.split('/')[3]}")
        if response.status_code == 204:
            raise NotFound("The image has no data at the master.")
        LOG.warning("master image service answered %d to GET %s", response.status_code, path)
        raise ServiceUnavailable(f"The master image service answered {response.status_code}.")


    def _send(self, path: str, stream: bool) -> requests.Response:
        try:
            return self._session.get(self.base_url + path,
                                     headers={"X-Auth-Token": self._token(), "Accept": "application/json"},
                                     stream=stream, timeout=TIMEOUT)
        except requests.RequestException as exc:
            LOG.warning("master image service unreachable at %s: %s", self.base_url, type(exc).__name__)
            raise ServiceUnavailable("The master image service is unreachable.") from exc


class _Body:
    """A streamed request body; its length, when known, lets requests send a Content-Length."""

    def __init__(self, chunks: Iterable[bytes], length: int | None) -> None:
        self.chunks = chunks
        self.length = length

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def __len__(self) -> int:
        # requests sends a body of unknown length (0 here) chunked.
        return self.length or 0


def _chunks(response: requests.Response, chunk_size: int) -> Iterator[bytes]:
    try:
        yield from response.iter_content(chunk_size=chunk_size)
    except requests.RequestException as exc:
        raise ServiceUnavailable("The download from the master image service was interrupted.") from exc
