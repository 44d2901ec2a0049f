"""Role grants (``openstack role add``) and /v3/role_assignments (``openstack role assignment list``)."""

from __future__ import annotations

from identity import roles
from tests.unit.identity.resources import admin, assert_error, create, demo, events, login, new_events


def setup(api, ids):
    """A tree top > mid > leaf, a user alice, a group with alice in it, and the role ids."""
    top = create(api, "project", name="top")
    mid = create(api, "project", name="mid", parent_id=top["id"])
    leaf = create(api, "project", name="leaf", parent_id=mid["id"])
    alice = create(api, "user", name="alice", password="alice-secret-1")
    group = create(api, "group", name="team")
    assert api.put(f"/v3/groups/{group['id']}/users/{alice['id']}").status_code == 204
    role_ids = {r["name"]: r["id"] for r in api.get("/v3/roles").json["roles"]}
    return top, mid, leaf, alice, group, role_ids


def test_direct_grant_put_check_list_delete(client, conf, db, ids):
    api = admin(client)
    top, mid, leaf, alice, group, role = setup(api, ids)
    path = f"/v3/projects/{top['id']}/users/{alice['id']}/roles/{role['member']}"
    assert_error(api.get(path), 404, "Could not find role assignment")
    assert api.put(path).status_code == 204
    assert api.put(path).status_code == 204
    assert api.get(path).status_code == 204 and api.head(path).status_code == 204
    listed = api.get(f"/v3/projects/{top['id']}/users/{alice['id']}/roles").json
    assert [r["name"] for r in listed["roles"]] == ["member"]
    assert listed["roles"][0]["links"]["self"] == f"{conf.identity.public_url}/v3/roles/{role['member']}"
    on_top = db.transaction(lambda s: roles.on_project(s, alice["id"], top["id"]))
    assert on_top == ((role["member"], "member"),)
    assert db.transaction(lambda s: roles.on_project(s, alice["id"], mid["id"])) == ()  # not inherited
    alice_on_top = login(client, "alice", "alice-secret-1", "top")
    assert alice_on_top.get(f"/v3/users/{alice['id']}").status_code == 200
    before = events(db)
    assert api.delete(path).status_code == 204
    assert new_events(db, before) == [{"user_id": alice["id"], "project_id": top["id"]}]
    assert_error(alice_on_top.get(f"/v3/users/{alice['id']}"), 401)
    assert_error(api.delete(path), 404)
    for bad in (f"/v3/projects/missing/users/{alice['id']}/roles/{role['member']}",
                f"/v3/projects/{top['id']}/users/missing/roles/{role['member']}",
                f"/v3/projects/{top['id']}/users/{alice['id']}/roles/missing"):
        assert_error(api.put(bad), 404, "missing")


def test_inherited_and_group_grants_take_effect_below(client, db, ids):
    api = admin(client)
    top, mid, leaf, alice, group, role = setup(api, ids)
    inherited = (f"/v3/OS-INHERIT/projects/{top['id']}/users/{alice['id']}/roles/{role['reader']}"
                 f"/inherited_to_projects")
    assert api.put(inherited).status_code == 204
    assert api.get(inherited).status_code == 204
    assert api.put(f"/v3/projects/{mid['id']}/groups/{group['id']}/roles/{role['member']}").status_code == 204
    domain_grant = (f"/v3/OS-INHERIT/domains/default/groups/{group['id']}/roles/{role['admin']}"
                    f"/inherited_to_projects")
    assert api.put(domain_grant).status_code == 204

    def held(project):
        return [name for _, name in db.transaction(lambda s: roles.on_project(s, alice["id"], project["id"]))]

    assert held(top) == ["admin"]  # the domain's inherited grant reaches every project of the domain
    assert held(mid) == ["admin", "member", "reader"]
    assert held(leaf) == ["admin", "reader"]

    effective = api.get(f"/v3/role_assignments?effective&user.id={alice['id']}&scope.project.id={leaf['id']}")
    got = effective.json["role_assignments"]
    assert {(a["role"]["id"], a["scope"]["project"]["id"]) for a in got} == \
        {(role["reader"], leaf["id"]), (role["admin"], leaf["id"])}
    by_role = {a["role"]["id"]: a for a in got}
    reader = by_role[role["reader"]]
    assert reader["user"] == {"id": alice["id"]}
    assert reader["scope"]["OS-INHERIT:inherited_to"] == "projects"
    assert reader["links"]["assignment"].endswith(inherited)
    admin_entry = by_role[role["admin"]]
    assert admin_entry["links"]["membership"].endswith(f"/v3/groups/{group['id']}/users/{alice['id']}")
    assert admin_entry["links"]["assignment"].endswith(domain_grant)

    everything = api.get(f"/v3/role_assignments?effective&user.id={alice['id']}").json["role_assignments"]
    projects_with_admin = {a["scope"]["project"]["id"] for a in everything
                           if a["role"]["id"] == role["admin"]}
    assert {top["id"], mid["id"], leaf["id"], ids["projects"]["demo"]} <= projects_with_admin
    assert all("group" not in a for a in everything)

    stored = api.get(f"/v3/role_assignments?group.id={group['id']}").json["role_assignments"]
    assert len(stored) == 2 and all(a["group"] == {"id": group["id"]} for a in stored)
    only_inherited = api.get("/v3/role_assignments?scope.OS-INHERIT:inherited_to=projects"
                             f"&user.id={alice['id']}")
    assert [a["role"]["id"] for a in only_inherited.json["role_assignments"]] == [role["reader"]]
    subtree = api.get(f"/v3/role_assignments?scope.project.id={top['id']}&include_subtree=True")
    assert {a["scope"]["project"]["id"] for a in subtree.json["role_assignments"]} == {top["id"], mid["id"]}

    before = events(db)
    assert api.delete(inherited).status_code == 204
    assert new_events(db, before) == [{"user_id": alice["id"]}]
    assert held(leaf) == ["admin"]
    before = events(db)
    assert api.delete(domain_grant).status_code == 204
    assert new_events(db, before) == [{"user_id": alice["id"]}]
    assert held(leaf) == []


def test_include_names(client, ids):
    api = admin(client)
    top, mid, leaf, alice, group, role = setup(api, ids)
    api.put(f"/v3/projects/{top['id']}/users/{alice['id']}/roles/{role['member']}")
    api.put(f"/v3/domains/default/groups/{group['id']}/roles/{role['reader']}")
    got = api.get(f"/v3/role_assignments?include_names=True&user.id={alice['id']}").json["role_assignments"]
    default = {"id": "default", "name": "Default"}
    assert got == [{
        "scope": {"project": {"id": top["id"], "name": "top", "domain": default}},
        "user": {"id": alice["id"], "name": "alice", "domain": default},
        "role": {"id": role["member"], "name": "member"},
        "links": {"assignment": got[0]["links"]["assignment"]},
    }]
    named = api.get(f"/v3/role_assignments?include_names&group.id={group['id']}").json["role_assignments"]
    assert named[0]["scope"] == {"domain": {"id": "default", "name": "Default"}}
    assert named[0]["group"] == {"id": group["id"], "name": "team", "domain": default}
    listed = api.get(f"/v3/domains/default/groups/{group['id']}/roles").json["roles"]
    assert [r["name"] for r in listed] == ["reader"]


def test_group_grant_removal_revokes_every_member(client, db, ids):
    api = admin(client)
    top, mid, leaf, alice, group, role = setup(api, ids)
    api.put(f"/v3/groups/{group['id']}/users/{ids['users']['demo']}")
    path = f"/v3/projects/{top['id']}/groups/{group['id']}/roles/{role['member']}"
    api.put(path)
    before = events(db)
    assert api.delete(path).status_code == 204
    assert sorted(e["user_id"] for e in new_events(db, before)) == sorted([alice["id"], ids["users"]["demo"]])
    domain_user = f"/v3/domains/default/users/{alice['id']}/roles/{role['reader']}"
    api.put(domain_user)
    before = events(db)
    assert api.delete(domain_user).status_code == 204
    assert new_events(db, before) == [{"user_id": alice["id"]}]


def test_filters_validated(client, ids):
    api = admin(client)
    base = "/v3/role_assignments?"
    assert_error(api.get(base + "scope.project.id=a&scope.domain.id=b"), 400, "domain or project")
    assert_error(api.get(base + "user.id=a&group.id=b"), 400, "user or group")
    assert_error(api.get(base + "effective&group.id=b"), 400, "effective")
    assert_error(api.get(base + "include_subtree=True"), 400, "scope.project.id")
    assert api.get(base + "scope.system=all").json["role_assignments"] == []
    everything = api.get("/v3/role_assignments").json
    assert everything["links"]["next"] is None
    assert {(a["user"]["id"], a["role"]["id"]) for a in everything["role_assignments"]} >= \
        {(ids["users"]["admin"], ids["roles"]["admin"]), (ids["users"]["demo"], ids["roles"]["member"])}


def test_grants_need_admin(client, ids):
    user = demo(client)
    path = (f"/v3/projects/{ids['projects']['demo']}/users/{ids['users']['demo']}"
            f"/roles/{ids['roles']['admin']}")
    assert user.put(path).status_code == 403
    assert user.get("/v3/role_assignments").status_code == 403
