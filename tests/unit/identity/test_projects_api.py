"""/v3/projects: trees built with parent_id (``openstack project create --parent``) and their views."""

from __future__ import annotations

from tests.unit.identity.resources import admin, assert_error, create, demo, events, new_events


def tree(api):
    """top > mid > leaf (depth 3), plus a second child ``side`` of top."""
    top = create(api, "project", name="top", domain_id="default", description="", enabled=True)
    mid = create(api, "project", name="mid", domain_id="default", parent_id=top["id"])
    leaf = create(api, "project", name="leaf", parent_id=mid["id"])
    side = create(api, "project", name="side", parent_id=top["id"])
    return top, mid, leaf, side


def test_create_with_parent_builds_a_tree(client, conf):
    api = admin(client)
    top, mid, leaf, side = tree(api)
    assert top["parent_id"] == "default"  # Keystone: the domain is the parent of a top-level project
    assert mid["parent_id"] == top["id"] and leaf["parent_id"] == mid["id"]
    assert leaf["domain_id"] == "default"  # inherited from the parent
    assert set(leaf) == {"id", "name", "domain_id", "parent_id", "description", "enabled", "is_domain",
                         "tags", "options", "quota_class", "links"}
    assert leaf["is_domain"] is False and leaf["quota_class"] is None
    assert leaf["links"]["self"] == f"{conf.identity.public_url}/v3/projects/{leaf['id']}"
    children = api.get(f"/v3/projects?parent_id={top['id']}").json["projects"]
    assert sorted(p["name"] for p in children) == ["mid", "side"]
    roots = {p["name"] for p in api.get("/v3/projects?parent_id=default").json["projects"]}
    assert {"top", "admin", "demo", "service"} <= roots and "mid" not in roots
    found = api.get("/v3/projects?name=leaf&domain_id=default").json["projects"]
    assert [p["id"] for p in found] == [leaf["id"]]


def test_parents_and_subtree(client):
    api = admin(client)
    top, mid, leaf, side = tree(api)
    shown = api.get(f"/v3/projects/{leaf['id']}?parents_as_ids").json["project"]
    assert shown["parents"] == {mid["id"]: {top["id"]: {"default": None}}}
    assert api.get(f"/v3/projects/{top['id']}?parents_as_ids").json["project"]["parents"] == {"default": None}
    parents = api.get(f"/v3/projects/{leaf['id']}?parents_as_list").json["project"]["parents"]
    assert [p["project"]["id"] for p in parents] == [mid["id"], top["id"]]
    subtree = api.get(f"/v3/projects/{top['id']}?subtree_as_ids").json["project"]["subtree"]
    assert subtree == {mid["id"]: {leaf["id"]: None}, side["id"]: None}
    assert api.get(f"/v3/projects/{leaf['id']}?subtree_as_ids").json["project"]["subtree"] is None
    listed = api.get(f"/v3/projects/{top['id']}?subtree_as_list").json["project"]["subtree"]
    assert {p["project"]["id"] for p in listed} == {mid["id"], leaf["id"], side["id"]}
    assert_error(api.get(f"/v3/projects/{leaf['id']}?parents_as_list&parents_as_ids"), 400, "same time")
    plain = api.get(f"/v3/projects/{leaf['id']}").json["project"]
    assert "parents" not in plain and "subtree" not in plain


def test_delete_refused_while_children_exist(client, db):
    api = admin(client)
    top, mid, leaf, side = tree(api)
    assert_error(api.delete(f"/v3/projects/{mid['id']}"), 409, "child projects")
    before = events(db)
    assert api.delete(f"/v3/projects/{leaf['id']}").status_code == 204
    assert new_events(db, before) == [{"project_id": leaf["id"]}]
    assert api.delete(f"/v3/projects/{mid['id']}").status_code == 204
    assert_error(api.get(f"/v3/projects/{mid['id']}"), 404, f"Could not find project: {mid['id']}.")


def test_update_rules(client, db):
    api = admin(client)
    top, mid, leaf, side = tree(api)
    path = f"/v3/projects/{mid['id']}"
    assert_error(api.patch(path, {"project": {"parent_id": side["id"]}}), 400, "parent_id")
    assert_error(api.patch(path, {"project": {"domain_id": "elsewhere"}}), 400, "domain_id")
    renamed = api.patch(path, {"project": {"parent_id": top["id"], "name": "middle"}})
    assert renamed.json["project"]["name"] == "middle"
    assert_error(api.patch(path, {"project": {"enabled": False}}), 409, "enabled projects")
    before = events(db)
    assert api.patch(f"/v3/projects/{leaf['id']}", {"project": {"enabled": False}}).status_code == 200
    assert api.patch(path, {"project": {"enabled": False}}).json["project"]["enabled"] is False
    assert new_events(db, before) == [{"project_id": leaf["id"]}, {"project_id": mid["id"]}]
    assert_error(api.patch(f"/v3/projects/{leaf['id']}", {"project": {"enabled": True}}), 409, "disabled")
    assert_error(api.post("/v3/projects", json={"project": {"name": "x", "parent_id": mid["id"]}}), 400,
                 "disabled")
    quota = api.patch(path, {"project": {"quota_class": "big", "extra_attribute": 1}})
    assert quota.status_code == 200 and quota.json["project"]["quota_class"] == "big"
    assert api.get("/v3/projects?enabled=false").json["projects"] != []
    assert all(p["enabled"] for p in api.get("/v3/projects?enabled=true").json["projects"])


def test_names_and_bad_input(client):
    api = admin(client)
    create(api, "project", name="unique")
    assert_error(api.post("/v3/projects", json={"project": {"name": "unique"}}), 409, "unique")
    other = create(api, "domain", name="other")
    assert create(api, "project", name="unique", domain_id=other["id"])["domain_id"] == other["id"]
    top = create(api, "project", name="parent-in-default")
    assert_error(api.post("/v3/projects", json={"project": {"name": "x", "parent_id": top["id"],
                                                            "domain_id": other["id"]}}), 400, "domain")
    assert_error(api.post("/v3/projects", json={"project": {"name": "x", "parent_id": "missing"}}), 404,
                 "Could not find project: missing.")
    assert_error(api.post("/v3/projects", json={"project": {"name": "x", "domain_id": "missing"}}), 404)
    assert_error(api.post("/v3/projects", json={"project": {"name": "x", "is_domain": True}}), 400)
    assert_error(api.post("/v3/projects", json={"project": {"name": 5}}), 400, "project.name")
    assert_error(api.post("/v3/projects", json={"project": {"name": "x", "tags": ["a/b"]}}), 400, "tags")
    assert_error(api.post("/v3/projects", json={"name": "x"}), 400)
    assert_error(api.post("/v3/projects", data="[1,"), 400, "JSON")
    assert_error(api.patch(f"/v3/projects/{top['id']}", {"project": {"name": None}}), 400)
    assert_error(api.delete("/v3/projects/missing"), 404)
    # Unknown attributes are accepted (Keystone keeps them as extras) and ignored here.
    assert create(api, "project", name="extra", color="blue")["name"] == "extra"


def test_member_sees_its_own_project_only(client, ids):
    user = demo(client)
    assert user.get(f"/v3/projects/{ids['projects']['demo']}").status_code == 200
    assert user.get(f"/v3/projects/{ids['projects']['admin']}").status_code == 403
    assert user.post("/v3/projects", json={"project": {"name": "mine"}}).status_code == 403
