"""/v3/roles."""

from __future__ import annotations

from tests.unit.identity.resources import admin, assert_error, create, events, new_events


def test_role_crud(client, conf):
    api = admin(client)
    names = [r["name"] for r in api.get("/v3/roles").json["roles"]]
    assert names == ["admin", "member", "reader", "service"]
    role = create(api, "role", name="auditor", description="Reads audit logs")
    assert role["domain_id"] is None and role["options"] == {}
    assert role["links"]["self"] == f"{conf.identity.public_url}/v3/roles/{role['id']}"
    assert api.get(f"/v3/roles/{role['id']}").json["role"] == role
    assert [r["id"] for r in api.get("/v3/roles?name=auditor").json["roles"]] == [role["id"]]
    assert api.get("/v3/roles?domain_id=default").json["roles"] == []
    assert_error(api.post("/v3/roles", json={"role": {"name": "auditor"}}), 409, "auditor")
    assert_error(api.post("/v3/roles", json={"role": {"name": "x", "domain_id": "default"}}), 400)
    assert_error(api.post("/v3/roles", json={"role": {"name": ""}}), 400)
    assert_error(api.patch(f"/v3/roles/{role['id']}", {"role": {"name": "member"}}), 409)
    described = api.patch(f"/v3/roles/{role['id']}", {"role": {"description": "d"}})
    assert described.json["role"]["description"] == "d"
    assert_error(api.get("/v3/roles/missing"), 404, "Could not find role: missing.")


def test_delete_role_revokes_its_holders(client, db, ids):
    api = admin(client)
    role = create(api, "role", name="operator")
    group = create(api, "group", name="night-shift")
    api.put(f"/v3/groups/{group['id']}/users/{ids['users']['admin']}")
    api.put(f"/v3/projects/{ids['projects']['demo']}/users/{ids['users']['demo']}/roles/{role['id']}")
    api.put(f"/v3/domains/default/groups/{group['id']}/roles/{role['id']}")
    holders = sorted(ids["users"][u] for u in ("admin", "demo"))
    before = events(db)
    assert api.patch(f"/v3/roles/{role['id']}", {"role": {"name": "operators"}}).status_code == 200
    assert sorted(e["user_id"] for e in new_events(db, before)) == holders
    api = admin(client)  # the rename revoked the admin's token too
    before = events(db)
    assert api.delete(f"/v3/roles/{role['id']}").status_code == 204
    assert sorted(e["user_id"] for e in new_events(db, before)) == holders
    api = admin(client)
    assert api.get(f"/v3/role_assignments?role.id={role['id']}").json["role_assignments"] == []
    assert_error(api.delete(f"/v3/roles/{role['id']}"), 404)
