"""A tiny real HTTP server for CLI tests: a Keystone login, a catalog and fixed JSON documents.

Identity is served at the root (``/v3``), compute below ``/compute`` and
image below ``/image``. ``documents`` maps ``(method, path)`` to a
``(status, body)`` the test chose; every request is recorded with its
query and token so tests can check what the CLI asked for.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

PROJECT_ID = "0123456789abcdef0123456789abcdef"


class TinyApi:
    def __init__(self) -> None:
        self.base = ""
        self.token = uuid.uuid4().hex
        self.documents: dict[tuple[str, str], tuple[int, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, list[str]], str | None]] = []
        self.projects = [{"id": PROJECT_ID, "name": "physics", "domain_id": "default"}]

    def catalog(self) -> list[dict[str, Any]]:
        def service(kind: str, url: str) -> dict[str, Any]:
            return {"type": kind, "name": kind, "endpoints": [
                {"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": url}]}
        return [service("identity", f"{self.base}/v3"), service("compute", f"{self.base}/compute/v2.1"),
                service("image", f"{self.base}/image")]

    def answer(self, method: str, path: str, query: dict[str, list[str]],
               token: str | None) -> tuple[int, Any, dict[str, str]]:
        if method == "POST" and path == "/v3/auth/tokens":
            body = {"token": {"expires_at": "2999-01-01T00:00:00Z", "catalog": self.catalog(),
                              "user": {"id": "u1", "name": "admin"}, "roles": [{"name": "admin"}],
                              "project": {"id": PROJECT_ID, "name": "admin"}}}
            return 201, body, {"X-Subject-Token": self.token}
        if token != self.token:
            return 401, {"error": {"code": 401, "message": "The request you have made requires "
                                   "authentication."}}, {}
        if (method, path) in self.documents:
            status, body = self.documents[(method, path)]
            return status, body, {}
        if method == "GET" and path.startswith("/v3/projects/"):
            wanted = path.rsplit("/", 1)[1]
            for project in self.projects:
                if project["id"] == wanted:
                    return 200, {"project": project}, {}
        if method == "GET" and path == "/v3/projects":
            names = query.get("name")
            return 200, {"projects": [p for p in self.projects if not names or p["name"] in names]}, {}
        return 404, {"error": {"code": 404, "message": f"no {path}"}}, {}


def _handler(api: TinyApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            token = self.headers.get("X-Auth-Token")
            query = parse_qs(parts.query)
            api.requests.append((self.command, parts.path, query, token))
            status, body, headers = api.answer(self.command, parts.path, query, token)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _serve  # noqa: N815 - http.server's naming

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

    return Handler


@contextmanager
def serving() -> Iterator[TinyApi]:
    """Serve a TinyApi on a loopback port for the duration of the block."""
    api = TinyApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    api.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def use_cloud(api: TinyApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point cloudctl at ``api`` as cloud 'tiny' (clouds.yaml), with the OS_* environment cleared."""
    for var in ("OS_CLOUD", "OS_AUTH_URL", "OS_PASSWORD", "OS_USERNAME", "OS_PROJECT_NAME",
                "OS_CLIENT_CONFIG_FILE", "OS_CLIENT_SECURE_FILE"):
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"tiny": {
        "auth": {"auth_url": f"{api.base}/v3", "username": "admin", "password": "secret",
                 "project_name": "admin", "user_domain_name": "Default", "project_domain_name": "Default"},
        "region_name": "RegionOne"}}}))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(path))
    monkeypatch.setenv("OS_CLOUD", "tiny")
