"""Hosts serve their cached images to other hosts of the cell, so pre-staging can fan out.

Each cloud-compute process runs one small threaded HTTP server
(``compute.peer_listen``) answering ``GET /hosts/<host>/images/<image_id>``
from the image cache of any host the process runs. It answers only callers
holding a token of this cell's service accounts, verified offline as every
service does (401 without one, 403 for another role); an unknown host or
image is a 404, and nothing else is served. ``PeerSource`` is the other end:
an agent downloading from a peer with the cell's service token.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

import requests

from cells.config import CellConfig, Endpoint
from cells.exception import Unauthorized
from cells.service import WsgiServer
from compute_agent.errors import ImageUnavailable
from compute_agent.images import TokenSource
from identity.middleware import TokenVerifier, keystone_error

LOG = logging.getLogger(__name__)

_CHUNK = 1 << 20
_PATH = re.compile(r"^/hosts/([A-Za-z0-9][A-Za-z0-9_.-]{0,254})/images/([A-Za-z0-9_-]{1,64})$")
_WILDCARDS = ("0.0.0.0", "::", "[::]", "")
SERVICE_ROLE = "service"


class _FileChunks:
    """A WSGI body streaming an open file, closed when the server is done with it."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self._f.read(_CHUNK):
            yield chunk

    def close(self) -> None:
        self._f.close()


class PeerImageApp:
    """The WSGI app: one process's hosts' caches, by host name."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self.verifier = verifier
        self._lock = threading.Lock()
        self._hosts: dict[str, str] = {}

    def add(self, host: str, directory: str) -> None:
        """Serve ``host``'s image cache at ``directory``."""
        with self._lock:
            self._hosts[host] = directory

    def remove(self, host: str) -> None:
        with self._lock:
            self._hosts.pop(host, None)

    def _directory(self, host: str) -> str | None:
        with self._lock:
            return self._hosts.get(host)

    @staticmethod
    def _error(start_response: Callable[..., Any], code: int, status: str, message: str,
               headers: list[tuple[str, str]] | None = None) -> list[bytes]:
        body = json.dumps(keystone_error(code, message)).encode()
        start_response(f"{code} {status}", [("Content-Type", "application/json"),
                                            ("Content-Length", str(len(body))), *(headers or [])])
        return [body]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # The token first, whatever the path: without one, nothing about this host's caches shows.
        try:
            ctx = self.verifier.verify(environ.get("HTTP_X_AUTH_TOKEN") or "")
        except Unauthorized as exc:
            return self._error(start_response, 401, "Unauthorized", exc.message)
        if SERVICE_ROLE not in ctx.roles:
            return self._error(start_response, 403, "Forbidden",
                               "Only the cell's service accounts may read hosts' images.")
        match = _PATH.match(environ.get("PATH_INFO") or "")
        if match is None:
            return self._error(start_response, 404, "Not Found", "The resource could not be found.")
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            return self._error(start_response, 405, "Method Not Allowed",
                               "Only GET reads a host's image.", [("Allow", "GET, HEAD")])
        host, image_id = match.groups()
        directory = self._directory(host)
        if directory is None:
            return self._error(start_response, 404, "Not Found", f"Host {host} is not served here.")
        try:
            f = open(os.path.join(directory, image_id), "rb")  # noqa: SIM115 - closed by the body
        except FileNotFoundError:
            return self._error(start_response, 404, "Not Found",
                               f"Host {host} holds no image {image_id}.")
        size = os.fstat(f.fileno()).st_size
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(size))])
        if method == "HEAD":
            f.close()
            return []
        return _FileChunks(f)


def own_cell_verifier(conf: CellConfig) -> TokenVerifier:
    """A verifier accepting tokens of this cell's identity only (no trusted issuers)."""
    return TokenVerifier(dataclasses.replace(conf, trusted_issuers=()))


def announced_host(conf: CellConfig, listen_host: str) -> str:
    """The name other hosts reach this process by: ``peer_address``, else the listen address."""
    if conf.peer_address:
        return conf.peer_address
    return socket.getfqdn() if listen_host in _WILDCARDS else listen_host


class PeerImageServer:
    """The process's peer image server, as a component; ``url_of(host)`` once started."""

    name = "compute-peer-images"

    def __init__(self, conf: CellConfig, verifier: TokenVerifier | None = None, threads: int = 16) -> None:
        self.conf = conf
        listen_host, _, port = conf.peer_listen.rpartition(":")
        self.listen_host = listen_host
        self.app = PeerImageApp(verifier or own_cell_verifier(conf))
        self._server = WsgiServer(self.name, self.app, Endpoint(listen_host, int(port), "", threads))
        self.base_url: str | None = None

    def start(self) -> None:
        """Listen (raises ConfigError if the address is taken) and note the URL peers use."""
        self._server.start()
        port = self._server.server.bind_addr[1]
        host = announced_host(self.conf, self.listen_host)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        self.base_url = f"http://{host}:{port}"
        LOG.info("serving hosts' images to peers at %s", self.base_url)

    def stop(self) -> None:
        self._server.stop()
        self.base_url = None

    def url_of(self, host: str) -> str | None:
        """The URL under which ``host``'s images are served, None when not serving."""
        return f"{self.base_url}/hosts/{host}" if self.base_url else None


class PeerSource:
    """Downloads an image from a peer's cache (a DataSource of ``ImageCache.obtain``).

    Raises ImageUnavailable when the peer cannot be reached or refuses: the
    caller then falls back to the cell's image endpoint.
    """

    def __init__(self, url: str, tokens: TokenSource, timeout: float = 300.0) -> None:
        self.url = url.rstrip("/")
        self.tokens = tokens
        self.timeout = timeout

    def _get(self, image_id: str) -> requests.Response:
        for attempt in (1, 2):
            try:
                response = requests.get(f"{self.url}/images/{image_id}", stream=True,
                                        timeout=(5.0, self.timeout),
                                        headers={"X-Auth-Token": self.tokens.get()})
            except requests.RequestException as exc:
                raise ImageUnavailable(f"peer unreachable: {type(exc).__name__}") from exc
            if response.status_code == 401 and attempt == 1:
                response.close()
                self.tokens.invalidate()  # expired, or its key retired: one fresh token
                continue
            if response.status_code != 200:
                response.close()
                raise ImageUnavailable(f"peer answered HTTP {response.status_code}")
            return response
        raise ImageUnavailable("peer refused the service token")

    def __call__(self, image_id: str) -> Iterator[bytes]:
        response = self._get(image_id)
        try:
            yield from response.iter_content(_CHUNK)
        except requests.RequestException as exc:
            raise ImageUnavailable(f"peer download interrupted: {type(exc).__name__}") from exc
        finally:
            response.close()
