"""Image lookups: Image v2 over HTTP with the caller's token, and the short-lived cache."""

from __future__ import annotations

import socket
import time

import pytest
from flask import Flask, jsonify, request

from api.image_lookup import CachedImageLookup, HttpImageLookup
from cells.config import Endpoint
from cells.exception import NotFound, ServiceUnavailable
from cells.service import WsgiServer

IMAGE = "6b1c2b68-0a5a-4a0f-9d43-7c5d3d0a8a11"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def image_service():
    seen: list[str | None] = []
    app = Flask("fake-images")

    @app.get("/v2/images/<image_id>")
    def show(image_id: str):
        seen.append(request.headers.get("X-Auth-Token"))
        if request.headers.get("X-Auth-Token") != "good-token":
            return jsonify({"error": "nope"}), 401
        if image_id == IMAGE:
            return jsonify({"id": IMAGE, "status": "active", "min_disk": 1})
        if image_id == "broken":
            return "not json", 200
        return jsonify({}), 404

    port = free_port()
    server = WsgiServer("fake-images", app, Endpoint("127.0.0.1", port, f"http://127.0.0.1:{port}", 2))
    server.start()
    time.sleep(0.1)
    yield f"http://127.0.0.1:{port}", seen
    server.stop()


def test_http_lookup(image_service):
    url, seen = image_service
    lookup = HttpImageLookup(url + "/")
    assert lookup(IMAGE, "p1", "good-token")["min_disk"] == 1
    assert seen == ["good-token"]
    with pytest.raises(NotFound, match="could not be found"):
        lookup("00000000-0000-0000-0000-000000000000", "p1", "good-token")
    with pytest.raises(ServiceUnavailable, match="answered 401"):
        lookup(IMAGE, "p1", "bad-token")
    with pytest.raises(ServiceUnavailable, match="malformed"):
        lookup("broken", "p1", "good-token")


def test_unreachable_image_service():
    lookup = HttpImageLookup(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(ServiceUnavailable, match="unavailable"):
        lookup(IMAGE, "p1", "t")


def test_cache_is_per_image_and_project_and_forgets_failures():
    now = [0.0]
    calls: list[tuple[str, str | None]] = []
    failing = {"missing"}

    def fetch(image_id: str, project_id: str | None, token: str) -> dict:
        calls.append((image_id, project_id))
        if image_id in failing:
            raise NotFound(image_id)
        return {"id": image_id}

    cached = CachedImageLookup(fetch, ttl=30, max_entries=2, clock=lambda: now[0])
    for _ in range(3):
        cached("a", "p1", "t")
    cached("a", "p2", "t")
    assert calls == [("a", "p1"), ("a", "p2")]
    for _ in range(2):
        with pytest.raises(NotFound):
            cached("missing", "p1", "t")
    assert calls.count(("missing", "p1")) == 2
    now[0] = 31.0
    cached("a", "p1", "t")
    assert calls.count(("a", "p1")) == 2
    cached("b", "p1", "t")
    cached("c", "p1", "t")  # evicts the oldest entry
    cached("a", "p2", "t")
    assert calls.count(("a", "p2")) == 2
