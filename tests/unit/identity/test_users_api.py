"""/v3/users: people, personal projects, passwords and service accounts."""

from __future__ import annotations

import sqlalchemy as sa

from cells.db.identity_models import Assignment, User
from identity import roles
from identity.app import create_app
from identity.bootstrap import bootstrap
from tests.unit.identity.conftest import DEMO_PASSWORD, SERVICE_PASSWORD, issue
from tests.unit.identity.resources import admin, assert_error, create, demo, events, login, new_events


def test_create_user_like_openstack_user_create(client, conf, db, ids):
    api = admin(client)
    response = api.post("/v3/users", json={"user": {
        "name": "alice", "domain_id": "default", "default_project_id": ids["projects"]["demo"],
        "password": "alice-secret-1", "email": "alice@example.org", "description": "Alice", "enabled": True,
        "options": {}}})
    assert response.status_code == 201
    user = response.json["user"]
    assert user["name"] == "alice" and user["domain_id"] == "default" and user["enabled"] is True
    assert user["default_project_id"] == ids["projects"]["demo"] and user["email"] == "alice@example.org"
    assert user["personal"] is False and user["is_service"] is False and user["password_expires_at"] is None
    assert user["links"]["self"] == f"{conf.identity.public_url}/v3/users/{user['id']}"
    assert "password" not in user and "password_hash" not in user
    stored = db.transaction(lambda s: s.get(User, user["id"]).password_hash)
    assert stored.startswith("scrypt$") and "alice-secret-1" not in stored
    assert api.get(f"/v3/users/{user['id']}").json["user"] == user
    assert [u["id"] for u in api.get("/v3/users?name=alice&domain_id=default").json["users"]] == [user["id"]]
    assert_error(api.post("/v3/users", json={"user": {"name": "alice"}}), 409, "alice")


def test_personal_user_gets_a_personal_project(client, conf, db):
    api = admin(client)
    user = create(api, "user", name="bob", password="bob-secret-1", personal=True)
    assert user["personal"] is True and user["default_project_id"]
    project = api.get(f"/v3/projects/{user['default_project_id']}").json["project"]
    assert project["name"] == "Personal bob" and project["domain_id"] == user["domain_id"]
    assert project["quota_class"] == conf.personal_quota_class
    held = db.transaction(lambda s: roles.on_project(s, user["id"], project["id"]))
    assert [name for _, name in held] == ["member"]
    token = issue(client, "bob", "bob-secret-1", None)  # scoped to the default project
    assert token.status_code == 201 and token.json["token"]["project"]["id"] == project["id"]
    assert_error(api.post("/v3/users", json={"user": {"name": "bob2", "personal": True, "is_service": True}}),
                 400, "personal")
    assert_error(api.patch(f"/v3/users/{user['id']}", {"user": {"personal": False}}), 400, "personal")


def test_personal_project_name_taken(client):
    api = admin(client)
    create(api, "project", name="Personal carol")
    assert_error(api.post("/v3/users", json={"user": {"name": "carol", "personal": True}}), 409,
                 "Personal carol")
    assert api.get("/v3/users?name=carol").json["users"] == []  # nothing half-made


def test_disable_and_delete_revoke(client, db, ids):
    api = admin(client)
    user = create(api, "user", name="dave", password="dave-secret-1",
                  default_project_id=ids["projects"]["demo"])
    member = api.get("/v3/roles?name=member").json["roles"][0]["id"]
    api.put(f"/v3/projects/{ids['projects']['demo']}/users/{user['id']}/roles/{member}")
    dave = login(client, "dave", "dave-secret-1", "demo")
    assert dave.get(f"/v3/users/{user['id']}").status_code == 200
    before = events(db)
    assert api.patch(f"/v3/users/{user['id']}", {"user": {"enabled": False}}).json["user"]["enabled"] is False
    assert new_events(db, before) == [{"user_id": user["id"]}]
    assert_error(dave.get(f"/v3/users/{user['id']}"), 401)  # refused at once by this process
    before = events(db)
    assert api.patch(f"/v3/users/{user['id']}", {"user": {"description": "x"}}).status_code == 200
    assert new_events(db, before) == []
    assert api.delete(f"/v3/users/{user['id']}").status_code == 204
    assert new_events(db, before) == [{"user_id": user["id"]}]
    left = db.transaction(lambda s: s.scalars(
        sa.select(Assignment).where(Assignment.actor_id == user["id"])).all())
    assert left == []
    assert_error(api.get(f"/v3/users/{user['id']}"), 404, "Could not find user")


def test_admin_sets_password(client, db):
    api = admin(client)
    user = create(api, "user", name="erin", password="erin-secret-1")
    before = events(db)
    assert api.patch(f"/v3/users/{user['id']}", {"user": {"password": "erin-secret-2"}}).status_code == 200
    assert new_events(db, before) == [{"user_id": user["id"]}]
    assert issue(client, "erin", "erin-secret-2", None).status_code == 201
    assert issue(client, "erin", "erin-secret-1", None).status_code == 401


def test_change_own_password(client, db, ids):
    user = demo(client)
    path = f"/v3/users/{ids['users']['demo']}/password"
    wrong = {"password": "new-secret-1", "original_password": "wrong"}
    assert_error(user.post(path, json={"user": wrong}), 401, "original password")
    assert_error(user.post(path, json={"user": {"password": "new-secret-1"}}), 400, "original_password")
    before = events(db)
    ok = user.post(path, json={"user": {"password": "new-secret-1", "original_password": DEMO_PASSWORD}})
    assert ok.status_code == 204
    assert new_events(db, before) == [{"user_id": ids["users"]["demo"]}]
    assert_error(user.get(f"/v3/users/{ids['users']['demo']}"), 401)  # the old token is revoked
    assert issue(client, "demo", DEMO_PASSWORD).status_code == 401
    fresh = login(client, "demo", "new-secret-1", "demo")
    assert fresh.get(f"/v3/users/{ids['users']['demo']}").status_code == 200
    # Another user's password is not the caller's to change.
    other = f"/v3/users/{ids['users']['admin']}/password"
    attempt = {"password": "x-secret-1", "original_password": "y"}
    assert fresh.post(other, json={"user": attempt}).status_code == 403


def test_self_service_reads(client, ids):
    user = demo(client)
    me = user.get(f"/v3/users/{ids['users']['demo']}").json["user"]
    assert me["name"] == "demo" and me["default_project_id"] == ids["projects"]["demo"]
    projects = user.get(f"/v3/users/{ids['users']['demo']}/projects").json["projects"]
    assert [p["id"] for p in projects] == [ids["projects"]["demo"]]
    assert user.get(f"/v3/users/{ids['users']['demo']}/groups").json["groups"] == []
    assert user.get(f"/v3/users/{ids['users']['admin']}").status_code == 403
    assert user.get("/v3/users").status_code == 403


def test_bad_input_is_400(client, ids):
    api = admin(client)
    for bad in ({"user": {"name": ""}}, {"user": {"name": "x", "enabled": 1}},
                {"user": {"name": "x", "password": 7}}, {"user": {"name": "x", "email": ["a"]}},
                {"user": {"name": "x", "personal": "yes"}}, {"user": []}, {"users": {"name": "x"}}):
        assert_error(api.post("/v3/users", json=bad), 400)
    assert_error(api.post("/v3/users", json={"user": {"name": "x", "default_project_id": "missing"}}), 404)
    assert_error(api.post("/v3/users", json={"user": {"name": "x", "domain_id": "missing"}}), 404)
    assert_error(api.patch(f"/v3/users/{ids['users']['demo']}", {"user": {"domain_id": "other"}}), 400)
    assert_error(api.patch(f"/v3/users/{ids['users']['demo']}", {"user": {}}), 400)
    assert_error(api.patch("/v3/users/missing", {"user": {"name": "y"}}), 404)
    assert create(api, "user", name="extra", favourite_colour="blue")["name"] == "extra"


def test_compute_cell_accepts_service_accounts_only(make_conf, sqlite_db):
    conf = make_conf("cell1", "compute", parent="top")
    db = sqlite_db("compute")
    bootstrap(conf, db, "", None, {"cell1-service": SERVICE_PASSWORD})
    client = create_app(conf, db).test_client()
    service = login(client, "cell1-service", SERVICE_PASSWORD, "service")
    # The service account is no admin: give it one to manage users here.
    admin_role = db.transaction(lambda s: s.scalar(sa.text("SELECT id FROM roles WHERE name = 'admin'")))
    validated = service.get("/v3/auth/tokens", headers={"X-Subject-Token": service.token})
    user_id = validated.json["token"]["user"]["id"]
    project_id = db.transaction(lambda s: s.scalar(sa.text("SELECT id FROM projects WHERE name = 'service'")))
    db.transaction(lambda s: s.add(Assignment(type="UserProject", actor_id=user_id, target_id=project_id,
                                              role_id=admin_role, inherited=False)))
    api = login(client, "cell1-service", SERVICE_PASSWORD, "service")
    assert_error(api.post("/v3/users", json={"user": {"name": "person"}}), 400, "service accounts only")
    agent = {"name": "agent", "is_service": True, "password": "agent-pw-1"}
    created = api.post("/v3/users", json={"user": agent})
    assert created.status_code == 201 and created.json["user"]["is_service"] is True
    assert_error(api.patch(f"/v3/users/{created.json['user']['id']}", {"user": {"is_service": False}}), 400)
