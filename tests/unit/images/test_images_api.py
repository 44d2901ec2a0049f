"""Image v2 API of the master: images, their data, visibility, roles and errors."""

from __future__ import annotations

import hashlib
import os

import pytest

from tests.unit.images.conftest import PROJECT_A, PROJECT_B

PATCH = "application/openstack-images-v2.1-json-patch"


@pytest.fixture
def env(master, signer):
    app, conf, store_dir = master()
    client = app.test_client()
    return client, signer, store_dir


def create(client, headers, expect=201, **body):
    body.setdefault("disk_format", "qcow2")
    body.setdefault("container_format", "bare")
    response = client.post("/v2/images", json=body, headers=headers)
    assert response.status_code == expect, response.get_data(as_text=True)
    return response.get_json()


def upload(client, image_id, data, headers, **kwargs):
    headers = {**headers, "Content-Type": "application/octet-stream"}
    return client.put(f"/v2/images/{image_id}/file", data=data, headers=headers, **kwargs)


def files_in(store_dir):
    found = []
    for root, _dirs, names in os.walk(store_dir):
        found.extend(os.path.join(root, n) for n in names)
    return found


def assert_error(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"message", "code", "title"}
    assert body["code"].startswith(str(status))
    return body["message"]


# --- versions and authentication -----------------------------------------------


def test_versions_need_no_token(env):
    client, _, _ = env
    root = client.get("/")
    assert root.status_code == 300
    ids = [v["id"] for v in root.get_json()["versions"]]
    assert ids[0] == "v2.9" and "v2.0" in ids
    assert root.get_json()["versions"][0]["links"][0]["href"].endswith("/v2/")
    assert client.get("/versions").status_code == 200


def test_no_or_bad_token_is_401_in_image_format(env):
    client, signer, _ = env
    assert_error(client.get("/v2/images"), 401)
    assert_error(client.get("/v2/images", headers={"X-Auth-Token": "nonsense"}), 401)
    foreign = signer.headers(issuer="elsewhere")
    assert_error(client.get("/v2/images", headers=foreign), 401)


def test_schemas_are_served(env):
    client, signer, _ = env
    image = client.get("/v2/schemas/image", headers=signer.headers()).get_json()
    assert image["name"] == "image" and "visibility" in image["properties"]
    images = client.get("/v2/schemas/images", headers=signer.headers()).get_json()
    assert images["name"] == "images"


# --- create, upload, download ---------------------------------------------------


def test_round_trip_hashes_match(env):
    client, signer, store_dir = env
    headers = signer.headers()
    img = create(client, headers, name="cirros", tags=["a", "b", "a"], min_ram=64, os_distro="cirros")
    assert img["status"] == "queued"
    assert img["visibility"] == "shared" and img["owner"] == PROJECT_A
    assert img["tags"] == ["a", "b"] and img["os_distro"] == "cirros" and img["min_ram"] == 64
    assert img["self"] == f"/v2/images/{img['id']}" and img["file"].endswith("/file")

    assert client.get(f"/v2/images/{img['id']}/file", headers=headers).status_code == 204

    data = os.urandom(3 * 1024 * 1024 + 17)
    response = upload(client, img["id"], data, headers)
    assert response.status_code == 204, response.get_data(as_text=True)

    shown = client.get(f"/v2/images/{img['id']}", headers=headers).get_json()
    assert shown["status"] == "active"
    assert shown["size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_algo"] == "sha512"
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()

    got = client.get(f"/v2/images/{img['id']}/file", headers=headers)
    assert got.status_code == 200
    assert got.headers["Content-MD5"] == shown["checksum"]
    assert int(got.headers["Content-Length"]) == len(data)
    assert hashlib.sha512(got.data).hexdigest() == shown["os_hash_value"]
    assert files_in(store_dir) == [os.path.join(store_dir, img["id"])]


def test_create_with_id_and_duplicate_id(env):
    client, signer, _ = env
    image_id = "2c1e1fd4-6b3a-4a59-8a4c-9e1f6f4c0a11"
    img = create(client, signer.headers(), id=image_id)
    assert img["id"] == image_id
    create(client, signer.headers(), expect=409, id=image_id)


def test_upload_to_active_image_is_409(env):
    client, signer, _ = env
    headers = signer.headers()
    img = create(client, headers)
    assert upload(client, img["id"], b"x" * 100, headers).status_code == 204
    assert_error(upload(client, img["id"], b"y" * 100, headers), 409)
    got = client.get(f"/v2/images/{img['id']}/file", headers=headers)
    assert got.data == b"x" * 100


def test_upload_needs_formats(env):
    client, signer, _ = env
    headers = signer.headers()
    img = create(client, headers, disk_format=None, container_format=None)
    assert "disk_format" in assert_error(upload(client, img["id"], b"abc", headers), 400)


def test_wrong_content_length_leaves_nothing(env):
    client, signer, store_dir = env
    headers = signer.headers()
    img = create(client, headers)
    data = b"z" * 5000
    # The body ends before the announced length.
    response = client.put(f"/v2/images/{img['id']}/file",
                          headers={**headers, "Content-Type": "application/octet-stream"},
                          environ_overrides={"wsgi.input": _Stream(data),
                                             "CONTENT_LENGTH": str(len(data) + 1000)})
    assert "Content-Length" in assert_error(response, 400)
    assert files_in(store_dir) == []
    shown = client.get(f"/v2/images/{img['id']}", headers=headers).get_json()
    assert shown["status"] == "queued" and shown["size"] is None

    # A size hint that disagrees with the data is refused too.
    response = upload(client, img["id"], data, {**headers, "X-OpenStack-Image-Size": "12"})
    assert_error(response, 400)
    assert files_in(store_dir) == []

    # The image can still be uploaded.
    assert upload(client, img["id"], data, headers).status_code == 204
    assert client.get(f"/v2/images/{img['id']}", headers=headers).get_json()["status"] == "active"


def test_upload_wrong_content_type_is_415(env):
    client, signer, _ = env
    headers = signer.headers()
    img = create(client, headers)
    response = client.put(f"/v2/images/{img['id']}/file", data=b"abc",
                          headers={**headers, "Content-Type": "application/json"})
    assert_error(response, 415)


class _Stream:
    """A request body of known bytes, read in whatever sizes the server asks for."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else min(len(self.data), self.pos + size)
        chunk = self.data[self.pos:end]
        self.pos = end
        return chunk


# --- list -----------------------------------------------------------------------


def test_list_filters_and_pagination(env):
    client, signer, _ = env
    headers = signer.headers()
    made = []
    for i in range(7):
        made.append(create(client, headers, name=f"img-{i}", tags=["even"] if i % 2 == 0 else ["odd"],
                           flavor_hint=f"f{i % 3}"))
    upload(client, made[0]["id"], b"data", headers)

    seen, url, pages = [], "/v2/images?limit=3", 0
    while url:
        body = client.get(url, headers=headers).get_json()
        seen.extend(i["id"] for i in body["images"])
        url = body.get("next")
        pages += 1
        assert pages < 10
    assert pages == 3
    assert sorted(seen) == sorted(i["id"] for i in made)
    assert len(seen) == len(set(seen))

    def names(query):
        response = client.get(f"/v2/images?{query}", headers=headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [i["name"] for i in response.get_json()["images"]]

    assert names("sort_key=name&sort_dir=asc") == [f"img-{i}" for i in range(7)]
    assert names("sort=name:desc&limit=2") == ["img-6", "img-5"]
    assert names("name=img-3") == ["img-3"]
    assert names("status=active") == ["img-0"]
    assert sorted(names("tag=odd")) == ["img-1", "img-3", "img-5"]
    assert names("tag=odd&tag=even") == []
    assert sorted(names("flavor_hint=f1")) == ["img-1", "img-4"]
    assert len(names(f"owner={PROJECT_A}")) == 7
    assert names(f"owner={PROJECT_B}") == []
    assert len(names("visibility=shared")) == 7
    assert names("visibility=public") == []

    # Sorted by name and paged two at a time, then by a nullable key.
    seen, url = [], "/v2/images?sort_key=name&sort_dir=asc&limit=2"
    while url:
        body = client.get(url, headers=headers).get_json()
        seen.extend(i["name"] for i in body["images"])
        url = body.get("next")
    assert seen == [f"img-{i}" for i in range(7)]
    seen, url = [], "/v2/images?sort_key=size&sort_dir=desc&limit=3"
    while url:
        body = client.get(url, headers=headers).get_json()
        seen.extend(i["name"] for i in body["images"])
        url = body.get("next")
    assert seen[0] == "img-0" and sorted(seen) == [f"img-{i}" for i in range(7)]


@pytest.mark.parametrize("query", ["limit=x", "limit=-1", "sort_key=nope", "sort_dir=up",
                                   "visibility=everyone", "status=weird",
                                   "marker=0f0f0f0f-0000-0000-0000-000000000000"])
def test_list_bad_parameters_are_400(env, query):
    client, signer, _ = env
    assert_error(client.get(f"/v2/images?{query}", headers=signer.headers()), 400)


# --- visibility -------------------------------------------------------------------


def test_visibility_across_projects(env):
    client, signer, _ = env
    a = signer.headers(project_id=PROJECT_A)
    b = signer.headers(project_id=PROJECT_B)
    admin = signer.headers(project_id="admin-project", roles=["admin", "member", "reader"])
    private = create(client, a, name="private", visibility="private")
    shared = create(client, a, name="shared")
    community = create(client, a, name="community", visibility="community")
    public = create(client, admin, name="public", visibility="public")

    for img in (private, shared):
        assert_error(client.get(f"/v2/images/{img['id']}", headers=b), 404)
        assert_error(client.get(f"/v2/images/{img['id']}/file", headers=b), 404)
        assert_error(client.delete(f"/v2/images/{img['id']}", headers=b), 404)
    assert client.get(f"/v2/images/{community['id']}", headers=b).status_code == 200
    assert client.get(f"/v2/images/{public['id']}", headers=b).status_code == 200

    listed = {i["name"] for i in client.get("/v2/images", headers=b).get_json()["images"]}
    assert listed == {"public"}
    community_list = client.get("/v2/images?visibility=community", headers=b).get_json()["images"]
    assert {i["name"] for i in community_list} == {"community"}
    listed = {i["name"] for i in client.get("/v2/images", headers=a).get_json()["images"]}
    assert listed == {"private", "shared", "community", "public"}
    listed = {i["name"] for i in client.get("/v2/images", headers=admin).get_json()["images"]}
    assert listed == {"private", "shared", "community", "public"}

    # Visible but not theirs: B may not change or delete it.
    response = client.patch(f"/v2/images/{public['id']}", headers={**b, "Content-Type": PATCH},
                            json=[{"op": "replace", "path": "/name", "value": "mine"}])
    assert_error(response, 403)
    assert_error(client.delete(f"/v2/images/{community['id']}", headers=b), 403)

    # Only an admin publishes.
    create(client, a, expect=403, name="p", visibility="public")
    create(client, a, expect=403, name="p", owner=PROJECT_B)


def test_a_token_scoped_to_no_project_cannot_create_images(env):
    client, signer, _ = env
    domain_member = signer.headers(project_id=None)  # a domain-scoped token: no project to own it
    create(client, domain_member, expect=403, name="orphan")
    create(client, domain_member, expect=403, name="orphan", owner=None)
    admin = signer.headers(project_id=None, roles=["admin"])
    assert create(client, admin, name="ops", owner=PROJECT_B)["owner"] == PROJECT_B


def test_a_cell_token_is_only_a_service_account_at_the_master(master, signer):
    app, _, _ = master(trusted=[{"issuer": "top!cell1", "jwks_url": "http://127.0.0.1:9/v3/OS-JWKS",
                                 "roles": ["service"]}])
    client = app.test_client()
    mine = create(client, signer.headers(project_id=PROJECT_A), name="a-private", visibility="private")
    # The cell's identity (or its stolen key) issues a token claiming admin besides service.
    cell = signer.headers(issuer="top!cell1", project_id=PROJECT_A, roles=["service", "admin", "member"])
    assert client.get(f"/v2/images/{mine['id']}", headers=cell).status_code == 200  # reads, as a service
    create(client, cell, expect=403, name="evil", visibility="public")
    assert_error(client.delete(f"/v2/images/{mine['id']}", headers=cell), 403)


def test_protected_image_cannot_be_deleted(env):
    client, signer, store_dir = env
    headers = signer.headers()
    img = create(client, headers, protected=True)
    upload(client, img["id"], b"data", headers)
    assert "protected" in assert_error(client.delete(f"/v2/images/{img['id']}", headers=headers), 403)
    response = client.patch(f"/v2/images/{img['id']}", headers={**headers, "Content-Type": PATCH},
                            json=[{"op": "replace", "path": "/protected", "value": False}])
    assert response.status_code == 200 and response.get_json()["protected"] is False
    assert client.delete(f"/v2/images/{img['id']}", headers=headers).status_code == 204
    assert_error(client.get(f"/v2/images/{img['id']}", headers=headers), 404)
    assert files_in(store_dir) == []


def test_reader_cannot_write(env):
    client, signer, _ = env
    member = signer.headers()
    reader = signer.headers(roles=["reader"])
    img = create(client, member)
    create(client, reader, expect=403)
    assert_error(upload(client, img["id"], b"abc", reader), 403)
    response = client.patch(f"/v2/images/{img['id']}", headers={**reader, "Content-Type": PATCH},
                            json=[{"op": "replace", "path": "/name", "value": "x"}])
    assert_error(response, 403)
    assert_error(client.delete(f"/v2/images/{img['id']}", headers=reader), 403)
    assert client.get(f"/v2/images/{img['id']}", headers=reader).status_code == 200
    assert client.get("/v2/images", headers=reader).status_code == 200


# --- bad requests and patches -------------------------------------------------------


def test_bad_create_bodies(env):
    client, signer, _ = env
    headers = signer.headers()
    response = client.post("/v2/images", data=b"{not json",
                           headers={**headers, "Content-Type": "application/json"})
    assert "Malformed" in assert_error(response, 400)
    assert_error(client.post("/v2/images", json=["a"], headers=headers), 400)
    assert_error(client.post("/v2/images", json={"visibility": "everyone"}, headers=headers), 400)
    assert_error(client.post("/v2/images", json={"disk_format": "floppy"}, headers=headers), 400)
    assert_error(client.post("/v2/images", json={"min_ram": -1}, headers=headers), 400)
    assert_error(client.post("/v2/images", json={"custom": 5}, headers=headers), 400)
    assert_error(client.post("/v2/images", json={"id": "not-a-uuid"}, headers=headers), 400)
    read_only = client.post("/v2/images", json={"status": "active"}, headers=headers)
    assert "read-only" in assert_error(read_only, 403)
    reserved = client.post("/v2/images", json={"locations": []}, headers=headers)
    assert "reserved" in assert_error(reserved, 403)


def test_patch(env):
    client, signer, _ = env
    headers = signer.headers()
    img = create(client, headers, name="old", extra="1")
    url = f"/v2/images/{img['id']}"
    patch_headers = {**headers, "Content-Type": PATCH}

    def patch(ops):
        return client.patch(url, headers=patch_headers, json=ops)

    response = patch([
        {"op": "replace", "path": "/name", "value": "new"},
        {"op": "add", "path": "/tags", "value": ["x", "y"]},
        {"op": "add", "path": "/os_type", "value": "linux"},
        {"op": "remove", "path": "/extra"},
        {"op": "replace", "path": "/min_disk", "value": 10},
        {"op": "replace", "path": "/visibility", "value": "community"},
    ])
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["name"] == "new" and body["tags"] == ["x", "y"] and body["os_type"] == "linux"
    assert "extra" not in body and body["min_disk"] == 10 and body["visibility"] == "community"
    assert client.get(url, headers=headers).get_json()["os_type"] == "linux"

    wrong_type = client.patch(url, headers={**headers, "Content-Type": "application/json"},
                              json=[{"op": "replace", "path": "/name", "value": "x"}])
    assert_error(wrong_type, 415)
    assert_error(patch([{"op": "move", "path": "/name", "value": "x"}]), 400)
    assert_error(patch([{"op": "replace", "path": "/name"}]), 400)
    assert_error(patch({"op": "replace"}), 400)
    assert_error(patch([{"op": "replace", "path": "/visibility", "value": "everyone"}]), 400)
    assert_error(patch([{"op": "replace", "path": "/min_ram", "value": "lots"}]), 400)
    assert_error(patch([{"op": "replace", "path": "/a/b", "value": "x"}]), 400)
    assert_error(patch([{"op": "replace", "path": "/missing", "value": "x"}]), 409)
    assert_error(patch([{"op": "remove", "path": "/missing"}]), 409)
    assert_error(patch([{"op": "remove", "path": "/name"}]), 403)
    assert_error(patch([{"op": "replace", "path": "/status", "value": "active"}]), 403)
    assert_error(patch([{"op": "replace", "path": "/visibility", "value": "public"}]), 403)
    bad = client.patch(url, headers=patch_headers, data=b"[{")
    assert_error(bad, 400)
    # A refused patch changed nothing.
    assert client.get(url, headers=headers).get_json()["name"] == "new"

    upload(client, img["id"], b"abc", headers)
    assert_error(patch([{"op": "replace", "path": "/disk_format", "value": "raw"}]), 403)


def test_unknown_routes_and_methods(env):
    client, signer, _ = env
    headers = signer.headers()
    assert_error(client.get("/v2/nothing", headers=headers), 404)
    assert_error(client.post("/v2/schemas/image", headers=headers), 405)
    assert_error(client.get("/v2/images/not-an-id", headers=headers), 404)
