"""Uploads over a real HTTP server: chunked transfer, and a client that hangs up mid-body."""

from __future__ import annotations

import hashlib
import os
import socket

import pytest
import requests

from cells.service import WsgiServer


@pytest.fixture
def served(master, signer):
    app, conf, store_dir = master()
    server = WsgiServer("images", app, conf.images)
    server.start()
    host, port = server.server.bind_addr
    try:
        yield f"http://{host}:{port}", (host, port), store_dir
    finally:
        server.stop()


def _create(base, headers):
    body = {"name": "x", "disk_format": "raw", "container_format": "bare"}
    response = requests.post(base + "/v2/images", json=body, headers=headers, timeout=10)
    assert response.status_code == 201
    return response.json()["id"]


def test_chunked_upload(served, signer):
    base, _addr, _store = served
    headers = signer.headers()
    image_id = _create(base, headers)
    parts = [os.urandom(300_000) for _ in range(5)]
    response = requests.put(f"{base}/v2/images/{image_id}/file", data=iter(parts), timeout=30,
                            headers={**headers, "Content-Type": "application/octet-stream"})
    assert response.status_code == 204, response.text
    shown = requests.get(f"{base}/v2/images/{image_id}", headers=headers, timeout=10).json()
    assert shown["size"] == 1_500_000
    assert shown["os_hash_value"] == hashlib.sha512(b"".join(parts)).hexdigest()


def test_client_hanging_up_mid_body_leaves_nothing(served, signer):
    base, (host, port), store_dir = served
    token = signer.token()
    image_id = _create(base, {"X-Auth-Token": token})
    head = (f"PUT /v2/images/{image_id}/file HTTP/1.1\r\nHost: {host}\r\nX-Auth-Token: {token}\r\n"
            "Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n")
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(head.encode() + b"q" * 40_000)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert [n for _r, _d, names in os.walk(store_dir) for n in names] == []
    shown = requests.get(f"{base}/v2/images/{image_id}", headers={"X-Auth-Token": token}, timeout=10).json()
    assert shown["status"] == "queued"
