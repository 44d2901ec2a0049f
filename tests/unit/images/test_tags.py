"""Image tags one at a time: PUT and DELETE /v2/images/{id}/tags/{tag}."""

from __future__ import annotations

import pytest

from tests.unit.images.conftest import PROJECT_A, PROJECT_B


@pytest.fixture
def env(master, signer):
    app, _conf, _store = master()
    client = app.test_client()
    heads = {p: signer.headers(project_id=p) for p in (PROJECT_A, PROJECT_B)}
    heads["reader"] = signer.headers(project_id=PROJECT_A, roles=["reader"])
    response = client.post("/v2/images", json={"name": "t", "disk_format": "raw", "container_format": "bare"},
                         headers=heads[PROJECT_A])
    assert response.status_code == 201
    return client, heads, response.get_json()["id"]


def tags(client, headers, image):
    return client.get(f"/v2/images/{image}", headers=headers).get_json()["tags"]


def test_add_is_idempotent_and_remove_takes_it_away(env):
    client, h, image = env
    a = h[PROJECT_A]
    for tag in ("gpu", "gpu", "lts"):
        assert client.put(f"/v2/images/{image}/tags/{tag}", headers=a).status_code == 204
    assert tags(client, a, image) == ["gpu", "lts"]
    assert [i["name"] for i in client.get("/v2/images?tag=lts", headers=a).get_json()["images"]] == ["t"]
    assert client.delete(f"/v2/images/{image}/tags/gpu", headers=a).status_code == 204
    assert tags(client, a, image) == ["lts"]
    response = client.delete(f"/v2/images/{image}/tags/gpu", headers=a)
    assert response.status_code == 404 and "gpu" in response.get_json()["message"]


def test_only_the_owner_tags(env):
    client, h, image = env
    # Another project does not even see it; a reader of A may not write at all.
    assert client.put(f"/v2/images/{image}/tags/x", headers=h[PROJECT_B]).status_code == 404
    assert client.put(f"/v2/images/{image}/tags/x", headers=h["reader"]).status_code == 403
    assert client.put(f"/v2/images/{'0' * 8}-0000-4000-8000-{'0' * 12}/tags/x",
                      headers=h[PROJECT_A]).status_code == 404
    assert tags(client, h[PROJECT_A], image) == []


def test_tag_limits(env, monkeypatch):
    from images.handlers import tags as tag_routes

    client, h, image = env
    a = h[PROJECT_A]
    response = client.put(f"/v2/images/{image}/tags/{'x' * 256}", headers=a)
    assert response.status_code == 400 and "255" in response.get_json()["message"]
    monkeypatch.setattr(tag_routes, "MAX_TAGS", 2)
    assert client.put(f"/v2/images/{image}/tags/a", headers=a).status_code == 204
    assert client.put(f"/v2/images/{image}/tags/b", headers=a).status_code == 204
    assert client.put(f"/v2/images/{image}/tags/c", headers=a).status_code == 413
    assert tags(client, a, image) == ["a", "b"]
