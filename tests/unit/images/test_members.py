"""Image members and visibility (Glance v2): sharing, accepting, rejecting, listing and protection."""

from __future__ import annotations

import pytest

from tests.unit.images.conftest import PROJECT_A, PROJECT_B

PROJECT_C = "c" * 32
PATCH = "application/openstack-images-v2.1-json-patch"


@pytest.fixture
def env(master, signer):
    app, _conf, _store = master()
    client = app.test_client()
    heads = {p: signer.headers(project_id=p) for p in (PROJECT_A, PROJECT_B, PROJECT_C)}
    heads["reader_b"] = signer.headers(project_id=PROJECT_B, roles=["reader"])
    heads["admin"] = signer.headers(project_id="admin-project", roles=["admin", "member", "reader"])
    return client, heads


def create(client, headers, **body):
    body.setdefault("disk_format", "qcow2")
    body.setdefault("container_format", "bare")
    response = client.post("/v2/images", json=body, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["id"]


def error(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"message", "code", "title"}
    return body["message"]


def listed(client, headers, query=""):
    response = client.get(f"/v2/images{query}", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return {i["name"] for i in response.get_json()["images"]}


def add(client, headers, image_id, member):
    return client.post(f"/v2/images/{image_id}/members", json={"member": member}, headers=headers)


def set_status(client, headers, image_id, member, status):
    return client.put(f"/v2/images/{image_id}/members/{member}", json={"status": status}, headers=headers)


def test_share_accept_reject_lifecycle(env):
    client, h = env
    a, b = h[PROJECT_A], h[PROJECT_B]
    image = create(client, a, name="gift")

    # Before: B cannot see it at all.
    error(client.get(f"/v2/images/{image}", headers=b), 404)

    response = add(client, a, image, PROJECT_B)
    assert response.status_code == 200, response.get_data(as_text=True)
    member = response.get_json()
    assert set(member) == {"created_at", "image_id", "member_id", "schema", "status", "updated_at"}
    assert (member["image_id"], member["member_id"], member["status"]) == (image, PROJECT_B, "pending")
    assert member["schema"] == "/v2/schemas/member"
    error(add(client, a, image, PROJECT_B), 409)

    # Pending: B sees it by id, not in its default list, yes with member_status=pending.
    assert client.get(f"/v2/images/{image}", headers=b).status_code == 200
    assert listed(client, b) == set()
    assert listed(client, b, "?member_status=pending") == {"gift"}
    assert listed(client, b, "?member_status=all") == {"gift"}
    assert listed(client, b, "?visibility=shared") == set()
    assert listed(client, b, "?visibility=shared&member_status=pending") == {"gift"}
    # C, no member, still sees nothing.
    error(client.get(f"/v2/images/{image}", headers=h[PROJECT_C]), 404)
    assert listed(client, h[PROJECT_C], "?member_status=all") == set()

    # Accepted: listed by default and under visibility=shared.
    response = set_status(client, b, image, PROJECT_B, "accepted")
    assert response.status_code == 200 and response.get_json()["status"] == "accepted"
    assert listed(client, b) == {"gift"}
    assert listed(client, b, "?visibility=shared") == {"gift"}
    assert listed(client, b, "?visibility=all") == {"gift"}
    assert listed(client, b, "?member_status=pending") == set()

    # Rejected: hidden from the list again, still readable by id.
    assert set_status(client, b, image, PROJECT_B, "rejected").status_code == 200
    assert listed(client, b) == set()
    assert listed(client, b, "?member_status=rejected") == {"gift"}
    assert client.get(f"/v2/images/{image}", headers=b).status_code == 200

    # Removed: B loses sight of it.
    assert client.delete(f"/v2/images/{image}/members/{PROJECT_B}", headers=a).status_code == 204
    error(client.get(f"/v2/images/{image}", headers=b), 404)
    error(client.get(f"/v2/images/{image}/members/{PROJECT_B}", headers=a), 404)


def test_member_listing_and_show(env):
    client, h = env
    a, b, c = h[PROJECT_A], h[PROJECT_B], h[PROJECT_C]
    image = create(client, a, name="gift")
    for project in (PROJECT_B, PROJECT_C):
        assert add(client, a, image, project).status_code == 200

    body = client.get(f"/v2/images/{image}/members", headers=a).get_json()
    assert body["schema"] == "/v2/schemas/members"
    assert {m["member_id"] for m in body["members"]} == {PROJECT_B, PROJECT_C}
    # A member sees only its own membership.
    mine = client.get(f"/v2/images/{image}/members", headers=b).get_json()["members"]
    assert [m["member_id"] for m in mine] == [PROJECT_B]
    assert client.get(f"/v2/images/{image}/members/{PROJECT_B}", headers=b).status_code == 200
    error(client.get(f"/v2/images/{image}/members/{PROJECT_C}", headers=b), 404)
    assert client.get(f"/v2/images/{image}/members/{PROJECT_C}", headers=h["admin"]).status_code == 200
    assert client.get(f"/v2/images/{image}/members/{PROJECT_C}", headers=c).status_code == 200


def test_only_the_owner_adds_and_removes(env):
    client, h = env
    a, b = h[PROJECT_A], h[PROJECT_B]
    image = create(client, a, name="gift")
    assert add(client, a, image, PROJECT_B).status_code == 200
    # B is a member, so it sees the image, yet may not share it on or drop others.
    error(add(client, b, image, PROJECT_C), 403)
    error(client.delete(f"/v2/images/{image}/members/{PROJECT_B}", headers=b), 403)
    # A stranger does not even see it.
    error(add(client, h[PROJECT_C], image, PROJECT_C), 404)
    # An admin may.
    assert add(client, h["admin"], image, PROJECT_C).status_code == 200
    # A reader of B is refused by the policy table.
    error(set_status(client, h["reader_b"], image, PROJECT_B, "accepted"), 403)


def test_only_the_member_sets_its_status(env):
    client, h = env
    a, b, c = h[PROJECT_A], h[PROJECT_B], h[PROJECT_C]
    image = create(client, a, name="gift")
    assert add(client, a, image, PROJECT_B).status_code == 200
    assert add(client, a, image, PROJECT_C).status_code == 200
    error(set_status(client, a, image, PROJECT_B, "accepted"), 403)  # the owner
    error(set_status(client, c, image, PROJECT_B, "accepted"), 403)  # another member
    error(set_status(client, h["admin"], image, PROJECT_B, "accepted"), 403)
    error(set_status(client, b, image, PROJECT_B, "maybe"), 400)
    error(client.put(f"/v2/images/{image}/members/{PROJECT_B}", json={"state": "accepted"},
                     headers=b), 400)
    # Other keys are ignored, as Glance does (openstacksdk sends the whole member back).
    response = client.put(f"/v2/images/{image}/members/{PROJECT_B}",
                          json={"status": "accepted", "member": PROJECT_B}, headers=b)
    assert response.status_code == 200 and response.get_json()["status"] == "accepted"
    # Not a member: the image is invisible.
    other = create(client, a, name="other")
    error(set_status(client, b, other, PROJECT_B, "accepted"), 404)
    assert set_status(client, b, image, PROJECT_B, "accepted").get_json()["status"] == "accepted"
    assert set_status(client, b, image, PROJECT_B, "pending").get_json()["status"] == "pending"


@pytest.mark.parametrize("visibility", ["private", "public", "community"])
def test_only_shared_images_have_members(env, visibility):
    client, h = env
    owner = h["admin"] if visibility == "public" else h[PROJECT_A]
    image = create(client, owner, name="x", visibility=visibility)
    assert "shared" in error(add(client, owner, image, PROJECT_B), 403)
    error(client.get(f"/v2/images/{image}/members", headers=owner), 403)


def test_members_lose_sight_when_the_image_turns_private(env):
    client, h = env
    a, b = h[PROJECT_A], h[PROJECT_B]
    image = create(client, a, name="gift")
    assert add(client, a, image, PROJECT_B).status_code == 200
    assert set_status(client, b, image, PROJECT_B, "accepted").status_code == 200
    response = client.patch(f"/v2/images/{image}", headers={**a, "Content-Type": PATCH},
                            json=[{"op": "replace", "path": "/visibility", "value": "private"}])
    assert response.status_code == 200, response.get_data(as_text=True)
    error(client.get(f"/v2/images/{image}", headers=b), 404)
    assert listed(client, b, "?member_status=all") == set()


def test_bad_requests(env):
    client, h = env
    a = h[PROJECT_A]
    image = create(client, a, name="gift")
    error(client.post(f"/v2/images/{image}/members", json={"members": PROJECT_B}, headers=a), 400)
    error(client.post(f"/v2/images/{image}/members", json={"member": ""}, headers=a), 400)
    error(client.post(f"/v2/images/{image}/members", json={"member": 5}, headers=a), 400)
    error(add(client, a, "0f0f0f0f-0000-0000-0000-000000000000", PROJECT_B), 404)
    error(client.get("/v2/images?member_status=maybe", headers=a), 400)
    error(client.get(f"/v2/images/{image}/members", headers={}), 401)


def test_private_image_of_another_project_is_404(env):
    client, h = env
    image = create(client, h[PROJECT_A], name="secret", visibility="private")
    b = h[PROJECT_B]
    error(client.get(f"/v2/images/{image}", headers=b), 404)
    error(client.get(f"/v2/images/{image}/members", headers=b), 404)
    error(add(client, b, image, PROJECT_B), 404)
    error(set_status(client, b, image, PROJECT_B, "accepted"), 404)


def test_community_listed_only_when_asked(env):
    client, h = env
    create(client, h[PROJECT_A], name="comm", visibility="community")
    create(client, h["admin"], name="pub", visibility="public")
    b = h[PROJECT_B]
    assert listed(client, b) == {"pub"}
    assert listed(client, b, "?visibility=community") == {"comm"}
    assert listed(client, b, "?visibility=all") == {"comm", "pub"}
    assert listed(client, h[PROJECT_A]) == {"comm", "pub"}  # its own, listed as any owned image


def test_protected_image_cannot_be_deleted(env):
    client, h = env
    a = h[PROJECT_A]
    image = create(client, a, name="keep", protected=True)
    assert "protected" in error(client.delete(f"/v2/images/{image}", headers=a), 403)
    response = client.patch(f"/v2/images/{image}", headers={**a, "Content-Type": PATCH},
                            json=[{"op": "replace", "path": "/protected", "value": False}])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert client.delete(f"/v2/images/{image}", headers=a).status_code == 204


def test_member_schemas(env):
    client, h = env
    member = client.get("/v2/schemas/member", headers=h[PROJECT_B]).get_json()
    assert member["name"] == "member" and "status" in member["properties"]
    members = client.get("/v2/schemas/members", headers=h[PROJECT_B]).get_json()
    assert members["name"] == "members"


def test_member_limit_and_delete_removes_members(env, monkeypatch):
    from images import members

    client, h = env
    a, b = h[PROJECT_A], h[PROJECT_B]
    monkeypatch.setattr(members, "MAX_MEMBERS_PER_IMAGE", 2)
    image = create(client, a, name="popular")
    assert add(client, a, image, PROJECT_B).status_code == 200
    assert add(client, a, image, PROJECT_C).status_code == 200
    assert "at most 2" in error(add(client, a, image, "d" * 32), 413)
    assert set_status(client, b, image, PROJECT_B, "accepted").status_code == 200
    assert listed(client, b) == {"popular"}

    assert client.delete(f"/v2/images/{image}", headers=a).status_code == 204
    assert listed(client, b, "?member_status=all") == set()
    error(client.get(f"/v2/images/{image}/members", headers=a), 404)
