"""/v3/groups and their members (``openstack group add user``)."""

from __future__ import annotations

from identity import roles
from tests.unit.identity.resources import admin, assert_error, create, events, new_events


def test_group_crud_and_members(client, conf, db, ids):
    api = admin(client)
    group = create(api, "group", name="ops", description="Operators", domain_id="default")
    assert set(group) == {"id", "name", "domain_id", "description", "links"}
    assert group["links"]["self"] == f"{conf.identity.public_url}/v3/groups/{group['id']}"
    assert_error(api.post("/v3/groups", json={"group": {"name": "ops"}}), 409, "ops")
    demo_id = ids["users"]["demo"]
    member = f"/v3/groups/{group['id']}/users/{demo_id}"
    assert_error(api.get(member), 404, "not a member")
    assert api.put(member).status_code == 204
    assert api.put(member).status_code == 204  # idempotent
    assert api.get(member).status_code == 204
    assert api.head(member).status_code == 204
    assert [u["id"] for u in api.get(f"/v3/groups/{group['id']}/users").json["users"]] == [demo_id]
    assert [g["id"] for g in api.get(f"/v3/users/{demo_id}/groups").json["groups"]] == [group["id"]]
    assert_error(api.put(f"/v3/groups/{group['id']}/users/missing"), 404, "Could not find user: missing.")
    assert_error(api.put(f"/v3/groups/missing/users/{demo_id}"), 404, "Could not find group: missing.")
    renamed = api.patch(f"/v3/groups/{group['id']}", {"group": {"name": "operators"}})
    assert renamed.json["group"]["name"] == "operators"
    assert [g["id"] for g in api.get("/v3/groups?name=operators").json["groups"]] == [group["id"]]
    assert_error(api.patch(f"/v3/groups/{group['id']}", {"group": {"domain_id": "other"}}), 400)


def test_roles_through_a_group_and_revocation(client, db, ids):
    api = admin(client)
    group = create(api, "group", name="readers")
    project = create(api, "project", name="shared")
    reader = api.get("/v3/roles?name=reader").json["roles"][0]["id"]
    demo_id = ids["users"]["demo"]
    api.put(f"/v3/groups/{group['id']}/users/{demo_id}")
    assert api.put(f"/v3/projects/{project['id']}/groups/{group['id']}/roles/{reader}").status_code == 204
    assert db.transaction(lambda s: roles.on_project(s, demo_id, project["id"])) == ((reader, "reader"),)
    before = events(db)
    assert api.delete(f"/v3/groups/{group['id']}/users/{demo_id}").status_code == 204
    assert new_events(db, before) == [{"user_id": demo_id}]
    assert db.transaction(lambda s: roles.on_project(s, demo_id, project["id"])) == ()
    assert_error(api.delete(f"/v3/groups/{group['id']}/users/{demo_id}"), 404)
    api.put(f"/v3/groups/{group['id']}/users/{demo_id}")
    api.put(f"/v3/groups/{group['id']}/users/{ids['users']['admin']}")
    before = events(db)
    assert api.delete(f"/v3/groups/{group['id']}").status_code == 204
    assert sorted(e["user_id"] for e in new_events(db, before)) == sorted([demo_id, ids["users"]["admin"]])
    assert db.transaction(lambda s: roles.on_project(s, demo_id, project["id"])) == ()
    assert api.get(f"/v3/groups/{group['id']}").status_code == 401  # the admin was a member too
    api = admin(client)
    assert api.get(f"/v3/role_assignments?scope.project.id={project['id']}").json["role_assignments"] == []
    assert_error(api.get(f"/v3/groups/{group['id']}"), 404)


def test_bad_input_is_400(client):
    api = admin(client)
    assert_error(api.post("/v3/groups", json={"group": {"name": ""}}), 400)
    assert_error(api.post("/v3/groups", json={"group": {"name": "g", "description": 3}}), 400)
    assert_error(api.post("/v3/groups", json={"group": {"name": "g", "domain_id": "missing"}}), 404)
    assert_error(api.post("/v3/groups", data="nope"), 400)
