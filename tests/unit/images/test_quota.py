"""Image quotas: count and byte limits enforced while uploads stream, usage and limits over HTTP."""

from __future__ import annotations

import os

from tests.unit.images.conftest import PROJECT_A, PROJECT_B

ADMIN = {"roles": ["admin", "member", "reader"]}


def _create(client, headers, **extra):
    body = {"name": "x", "disk_format": "raw", "container_format": "bare", **extra}
    return client.post("/v2/images", json=body, headers=headers)


def _put(client, image_id, headers, data):
    return client.put(f"/v2/images/{image_id}/file",
                      headers={**headers, "Content-Type": "application/octet-stream"}, data=data)


class Body:
    """A chunked request body read chunk by chunk; ``before`` runs before each chunk is handed out."""

    def __init__(self, chunks, before=None):
        self.chunks, self.before, self.read_count = list(chunks), before, 0

    def read(self, size: int = -1) -> bytes:
        if self.before:
            self.before(self.read_count)
        self.read_count += 1
        return self.chunks.pop(0) if self.chunks else b""


def _stream(client, image_id, headers, body):
    return client.put(f"/v2/images/{image_id}/file",
                      headers={**headers, "Content-Type": "application/octet-stream",
                               "Transfer-Encoding": "chunked"},
                      environ_overrides={"wsgi.input": body})


def _set(client, signer, project, **limits):
    return client.put(f"/v2/quotas/{project}", json={"quota": limits}, headers=signer.headers(**ADMIN))


def _files(store_dir):
    return [f for _root, _dirs, files in os.walk(store_dir) for f in files]


def test_count_limit_refuses_creation_with_413(master, signer):
    app, _conf, _store = master()
    client = app.test_client()
    assert _set(client, signer, PROJECT_A, images=2).status_code == 200
    headers = signer.headers()
    assert _create(client, headers).status_code == 201
    assert _create(client, headers).status_code == 201
    refused = _create(client, headers)
    assert refused.status_code == 413
    assert "count quota" in refused.get_json()["message"]
    # Another project is not affected.
    assert _create(client, signer.headers(project_id=PROJECT_B)).status_code == 201


def test_upload_crossing_byte_limit_is_413_and_leaves_nothing(master, signer):
    app, _conf, store_dir = master()
    client = app.test_client()
    headers = signer.headers()
    assert _set(client, signer, PROJECT_A, image_bytes=1000).status_code == 200
    first = _create(client, headers).get_json()["id"]
    assert _put(client, first, headers, b"a" * 600).status_code == 204
    second = _create(client, headers).get_json()["id"]

    # Chunked (no Content-Length): refused while streaming, once the 401st byte arrives.
    body = Body([b"b" * 300, b"b" * 300, b"b" * 300])
    refused = _stream(client, second, headers, body)
    assert refused.status_code == 413
    assert refused.get_json()["code"] == "413 Request Entity Too Large"
    assert body.chunks == [b"b" * 300]  # stopped before reading the rest
    image = client.get(f"/v2/images/{second}", headers=headers).get_json()
    assert image["status"] == "queued" and image["size"] is None
    assert len(_files(store_dir)) == 1  # only the first image's data

    # With a Content-Length over the limit: refused before reading.
    assert _put(client, second, headers, b"b" * 401).status_code == 413
    # Exactly up to the limit is allowed.
    assert _put(client, second, headers, b"b" * 400).status_code == 204


def test_snapshot_counts_against_snapshot_bytes_only(master, signer):
    app, _conf, _store = master()
    client = app.test_client()
    headers = signer.headers()
    _set(client, signer, PROJECT_A, image_bytes=100, snapshot_bytes=1000)
    snap = _create(client, headers, image_type="snapshot").get_json()["id"]
    assert _put(client, snap, headers, b"s" * 500).status_code == 204
    plain = _create(client, headers).get_json()["id"]
    assert _put(client, plain, headers, b"i" * 100).status_code == 204

    usage = client.get("/v2/info/usage", headers=headers).get_json()["usage"]
    assert usage["image_size_total"] == {"limit": 100, "usage": 100}
    assert usage["image_snapshot_size_total"] == {"limit": 1000, "usage": 500}
    assert usage["image_count_total"]["usage"] == 2

    snap2 = _create(client, headers, image_type="snapshot").get_json()["id"]
    assert _put(client, snap2, headers, b"s" * 501).status_code == 413


def test_usage_document_uses_defaults_and_ignores_deleted(master, signer):
    app, conf, _store = master()
    client = app.test_client()
    headers = signer.headers()
    image_id = _create(client, headers).get_json()["id"]
    _put(client, image_id, headers, b"x" * 10)
    gone = _create(client, headers).get_json()["id"]
    _put(client, gone, headers, b"y" * 7)
    assert client.delete(f"/v2/images/{gone}", headers=headers).status_code == 204
    usage = client.get("/v2/info/usage", headers=headers).get_json()["usage"]
    assert usage["image_count_total"] == {"limit": conf.image_quota_images, "usage": 1}
    assert usage["image_size_total"] == {"limit": conf.image_quota_image_bytes, "usage": 10}


def test_admin_sets_limits_member_cannot(master, signer):
    app, _conf, _store = master()
    client = app.test_client()
    member = signer.headers()
    assert client.put(f"/v2/quotas/{PROJECT_A}", json={"quota": {"images": 5}},
                      headers=member).status_code == 403
    assert client.get(f"/v2/quotas/{PROJECT_A}", headers=member).status_code == 403
    assert client.get(f"/v2/info/usage?project_id={PROJECT_B}", headers=member).status_code == 403

    answer = _set(client, signer, PROJECT_B, images=5, image_bytes=None)
    assert answer.status_code == 200
    assert answer.get_json()["quota"]["images"] == 5
    shown = client.get(f"/v2/info/usage?project_id={PROJECT_B}", headers=signer.headers(**ADMIN))
    assert shown.get_json()["usage"]["image_count_total"]["limit"] == 5


def test_bad_quota_values_are_400(master, signer):
    app, _conf, _store = master()
    client = app.test_client()
    for body in ({"quota": {"images": -2}}, {"quota": {"images": "5"}}, {"quota": {"images": True}},
                 {"quota": {"cpus": 1}}, {"quota": {}}, {"images": 1}, []):
        answer = client.put(f"/v2/quotas/{PROJECT_A}", json=body, headers=signer.headers(**ADMIN))
        assert answer.status_code == 400, body


def test_minus_one_is_unlimited(master, signer):
    app, _conf, _store = master()
    client = app.test_client()
    headers = signer.headers()
    _set(client, signer, PROJECT_A, images=-1, image_bytes=-1)
    _set(client, signer, PROJECT_A, images=-1)
    for _ in range(3):
        image_id = _create(client, headers).get_json()["id"]
    assert _put(client, image_id, headers, b"z" * 5000).status_code == 204
    _set(client, signer, PROJECT_A, images=1)
    assert _create(client, headers).status_code == 413


def test_two_uploads_together_crossing_the_limit_are_refused_at_the_end(master, signer):
    app, _conf, store_dir = master()
    client = app.test_client()
    headers = signer.headers()
    _set(client, signer, PROJECT_A, image_bytes=100)
    first = _create(client, headers).get_json()["id"]
    second = _create(client, headers).get_json()["id"]

    finished = []

    def other_upload(read_count):
        # While this upload streams (its allowance computed: 100), another one finishes.
        if read_count == 1:
            finished.append(_put(app.test_client(), second, headers, b"b" * 80).status_code)

    answer = _stream(client, first, headers, Body([b"a" * 30, b"a" * 30], other_upload))
    assert finished == [204]
    assert answer.status_code == 413, answer.get_data(as_text=True)
    assert client.get(f"/v2/images/{first}", headers=headers).get_json()["status"] == "queued"
    assert len(_files(store_dir)) == 1
