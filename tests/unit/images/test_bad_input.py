"""Bad input to the master: each a 4xx with a message naming what is wrong, and nothing half-written
(no image created, the image unchanged, or the image still queued with no data in the store)."""

from __future__ import annotations

import os
import socket

import pytest
import requests

from cells.service import WsgiServer
from tests.unit.images.test_images_api import PATCH, assert_error, create, files_in


@pytest.fixture
def env(master, signer):
    app, _conf, store_dir = master()
    return app.test_client(), signer.headers(), store_dir


# --- create ---------------------------------------------------------------------------


@pytest.mark.parametrize("field,value", [
    ("min_ram", "abc"), ("min_disk", 1.5), ("protected", "yes"), ("visibility", "everyone"),
    ("tags", "web"), ("hw_disk_bus", "nvme"), ("hw_firmware_type", 1), ("os_type", "beos"),
])
def test_bad_create_is_400_naming_the_field_and_creates_nothing(env, field, value):
    client, headers, store_dir = env
    body = {"name": "bad", "disk_format": "qcow2", "container_format": "bare", field: value}
    message = assert_error(client.post("/v2/images", json=body, headers=headers), 400)
    assert field in message and str(value) in message
    assert client.get("/v2/images", headers=headers).get_json()["images"] == []
    assert files_in(store_dir) == []


# --- patch ----------------------------------------------------------------------------


@pytest.mark.parametrize("ops,status,named", [
    ([{"op": "replace", "path": "/min_ram", "value": "abc"}], 400, "min_ram"),
    ([{"op": "replace", "path": "/protected", "value": "yes"}], 400, "protected"),
    ([{"op": "replace", "path": "/visibility", "value": "everyone"}], 400, "visibility"),
    ([{"op": "add", "path": "/hw_vif_model", "value": "virtio-net"}], 400, "hw_vif_model"),
    ([{"op": "test", "path": "/name", "value": "x"}], 400, "op"),
    ([{"op": "copy", "from": "/name", "path": "/other"}], 400, "op"),
    ([{"op": "add", "path": "name", "value": "x"}], 400, "path"),
    ([{"op": "add", "path": "/tags/0", "value": "x"}], 400, "path"),
    ([{"op": "replace", "path": "/name"}], 400, "value"),
    ({"op": "replace", "path": "/name", "value": "x"}, 400, "array"),
    ("replace", 400, "array"),
    ([5], 400, "object"),
    # A good op after a bad one: the document is refused whole.
    ([{"op": "replace", "path": "/name", "value": "renamed"},
      {"op": "replace", "path": "/min_disk", "value": "big"}], 400, "min_disk"),
])
def test_bad_patch_is_refused_whole_and_changes_nothing(env, ops, status, named):
    client, headers, _store = env
    img = create(client, headers, name="kept", min_ram=64, protected=False, hw_disk_bus="virtio")
    url = f"/v2/images/{img['id']}"
    before = client.get(url, headers=headers).get_json()
    message = assert_error(client.patch(url, json=ops, headers={**headers, "Content-Type": PATCH}), status)
    assert named in message
    assert client.get(url, headers=headers).get_json() == before


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None])
def test_patch_with_the_wrong_content_type_is_415(env, content_type):
    client, headers, _store = env
    img = create(client, headers, name="kept")
    url = f"/v2/images/{img['id']}"
    extra = {"Content-Type": content_type} if content_type else {}
    response = client.patch(url, data=b'[{"op": "replace", "path": "/name", "value": "x"}]',
                            headers={**headers, **extra})
    assert PATCH in assert_error(response, 415)
    assert client.get(url, headers=headers).get_json()["name"] == "kept"


# --- upload, over a real HTTP server --------------------------------------------------


@pytest.fixture
def served(master, signer):
    app, conf, store_dir = master()
    server = WsgiServer("images", app, conf.images)
    server.start()
    host, port = server.server.bind_addr
    try:
        yield f"http://{host}:{port}", (host, port), store_dir, signer.token()
    finally:
        server.stop()


def _raw_put(addr: tuple[str, int], image_id: str, token: str, headers: str, body: bytes) -> bytes:
    """Send a PUT of ``body`` as given, then hang up the sending side; returns the whole answer."""
    host, port = addr
    head = (f"PUT /v2/images/{image_id}/file HTTP/1.1\r\nHost: {host}\r\nX-Auth-Token: {token}\r\n"
            f"Content-Type: application/octet-stream\r\n{headers}\r\n")
    with socket.create_connection(addr, timeout=30) as sock:
        sock.sendall(head.encode() + body)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


@pytest.mark.parametrize("headers,body,named", [
    # Chunked, cut off before the last chunk arrives.
    ("Transfer-Encoding: chunked\r\n", _chunk(b"a" * 5000) + b"2000\r\n" + b"b" * 100, b"interrupted"),
    # Chunked, with a chunk size that is not hexadecimal.
    ("Transfer-Encoding: chunked\r\n", _chunk(b"a" * 5000) + b"zz\r\nxx\r\n0\r\n\r\n", b"interrupted"),
    # Fewer bytes than Content-Length announced.
    ("Content-Length: 100000\r\n", b"c" * 40_000, b"Content-Length"),
])
def test_truncated_or_malformed_upload_is_400_and_leaves_nothing(served, headers, body, named):
    base, addr, store_dir, token = served
    auth = {"X-Auth-Token": token}
    image_id = requests.post(base + "/v2/images", headers=auth, timeout=10, json={
        "name": "x", "disk_format": "raw", "container_format": "bare"}).json()["id"]
    answer = _raw_put(addr, image_id, token, headers, body)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert named in answer and b'"message"' in answer
    assert files_in(store_dir) == []
    shown = requests.get(f"{base}/v2/images/{image_id}", headers=auth, timeout=10).json()
    assert shown["status"] == "queued" and shown["size"] is None and shown["os_hash_value"] is None
    # Nothing stuck: the owner uploads again.
    good = requests.put(f"{base}/v2/images/{image_id}/file", data=b"good", timeout=10,
                        headers={**auth, "Content-Type": "application/octet-stream"})
    assert good.status_code == 204, good.text


def test_upload_to_an_active_image_is_409_and_keeps_its_data(served):
    base, _addr, store_dir, token = served
    auth = {"X-Auth-Token": token, "Content-Type": "application/octet-stream"}
    image_id = requests.post(base + "/v2/images", headers={"X-Auth-Token": token}, timeout=10, json={
        "name": "x", "disk_format": "raw", "container_format": "bare"}).json()["id"]
    assert requests.put(f"{base}/v2/images/{image_id}/file", data=b"first", headers=auth,
                        timeout=10).status_code == 204
    before = requests.get(f"{base}/v2/images/{image_id}", headers=auth, timeout=10).json()
    again = requests.put(f"{base}/v2/images/{image_id}/file", data=iter([b"second"] * 3), headers=auth,
                         timeout=10)
    assert again.status_code == 409 and again.json()["message"]
    assert requests.get(f"{base}/v2/images/{image_id}", headers=auth, timeout=10).json() == before
    assert requests.get(f"{base}/v2/images/{image_id}/file", headers=auth, timeout=10).content == b"first"
    assert files_in(store_dir) == [os.path.join(store_dir, image_id)]
