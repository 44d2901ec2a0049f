"""/v3/domains against the Flask test client."""

from __future__ import annotations

from tests.unit.identity.resources import admin, assert_error, create, demo, events, new_events


def test_create_show_list_update_domain(client, conf):
    api = admin(client)
    domain = create(api, "domain", name="physics", description="Physics department")
    assert set(domain) == {"id", "name", "description", "enabled", "tags", "options", "links"}
    assert domain["enabled"] is True and domain["name"] == "physics"
    assert domain["links"]["self"] == f"{conf.identity.public_url}/v3/domains/{domain['id']}"
    assert api.get(f"/v3/domains/{domain['id']}").json["domain"] == domain
    listed = api.get("/v3/domains?name=physics").json
    assert [d["id"] for d in listed["domains"]] == [domain["id"]]
    assert listed["links"] == {"self": f"{conf.identity.public_url}/v3/domains?name=physics",
                               "previous": None, "next": None}
    assert {d["name"] for d in api.get("/v3/domains").json["domains"]} == {"Default", "physics"}
    updated = api.patch(f"/v3/domains/{domain['id']}", {"domain": {"description": "Physics"}})
    assert updated.status_code == 200 and updated.json["domain"]["description"] == "Physics"


def test_explicit_domain_id_and_duplicates(client):
    api = admin(client)
    domain = create(api, "domain", name="chem", explicit_domain_id="0123456789abcdef0123456789abcdef")
    assert domain["id"] == "0123456789abcdef0123456789abcdef"
    assert_error(api.post("/v3/domains", json={"domain": {"name": "chem"}}), 409, "chem")
    taken = {"name": "other", "explicit_domain_id": domain["id"]}
    assert_error(api.post("/v3/domains", json={"domain": taken}), 409)


def test_delete_requires_disabled_domain_and_cascades(client, db):
    api = admin(client)
    domain = create(api, "domain", name="bio")
    project = create(api, "project", name="lab", domain_id=domain["id"])
    create(api, "project", name="sublab", parent_id=project["id"])
    user = create(api, "user", name="alice", domain_id=domain["id"], password="alice-secret-1")
    group = create(api, "group", name="staff", domain_id=domain["id"])
    role = api.get("/v3/roles?name=member").json["roles"][0]
    assert api.put(f"/v3/projects/{project['id']}/users/{user['id']}/roles/{role['id']}").status_code == 204
    assert api.put(f"/v3/domains/{domain['id']}/groups/{group['id']}/roles/{role['id']}").status_code == 204
    assert_error(api.delete(f"/v3/domains/{domain['id']}"), 403, "disable it first")
    before = events(db)
    assert api.patch(f"/v3/domains/{domain['id']}", {"domain": {"enabled": False}}).status_code == 200
    assert new_events(db, before) == [{"domain_id": domain["id"]}]
    before = events(db)
    assert api.delete(f"/v3/domains/{domain['id']}").status_code == 204
    assert new_events(db, before) == [{"domain_id": domain["id"]}]
    for path in (f"/v3/domains/{domain['id']}", f"/v3/projects/{project['id']}", f"/v3/users/{user['id']}",
                 f"/v3/groups/{group['id']}"):
        assert_error(api.get(path), 404, "Could not find")
    assert api.get(f"/v3/role_assignments?role.id={role['id']}&scope.project.id={project['id']}") \
        .json["role_assignments"] == []


def test_default_domain_is_protected(client):
    api = admin(client)
    assert_error(api.patch("/v3/domains/default", {"domain": {"enabled": False}}), 403, "default domain")
    assert_error(api.delete("/v3/domains/default"), 403)


def test_bad_input_is_400(client):
    api = admin(client)
    assert_error(api.post("/v3/domains", data="{not json"), 400, "not valid JSON")
    assert_error(api.post("/v3/domains", json={"domain": {}}), 400, "name")
    assert_error(api.post("/v3/domains", json={"domain": {"name": "x", "enabled": "yes"}}), 400, "enabled")
    assert_error(api.post("/v3/domains", json={"domain": {"name": "   "}}), 400, "name")
    assert_error(api.post("/v3/domains", json={"domain": {"name": "x" * 65}}), 400, "name")
    assert_error(api.post("/v3/domains", json=["domain"]), 400)
    assert_error(api.patch("/v3/domains/default", {"domain": {}}), 400)
    assert_error(api.get("/v3/domains/nope"), 404, "Could not find domain: nope.")


def test_domain_admin_only(client):
    assert demo(client).get("/v3/domains").status_code == 403
