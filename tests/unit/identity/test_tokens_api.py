"""POST/GET/DELETE /v3/auth/tokens, versions and JWKS against the Flask test client."""

from __future__ import annotations

import time

import jwt
import sqlalchemy as sa

from cells.db.identity_models import User
from identity.app import create_app
from identity.key_sources import StaticKeySource, parse_jwks
from identity.middleware import TokenVerifier
from tests.unit.identity.conftest import (
    ADMIN_PASSWORD,
    DEMO_PASSWORD,
    SERVICE_PASSWORD,
    issue,
    password_auth,
)

AUTH_REQUIRED = "The request you have made requires authentication."


def test_versions(client, conf):
    response = client.get("/")
    assert response.status_code == 300
    (version,) = response.json["versions"]["values"]
    assert version["id"].startswith("v3.") and version["status"] == "stable"
    assert version["links"][0]["href"] == conf.identity.public_url + "/v3/"
    v3 = client.get("/v3")
    assert v3.status_code == 200
    assert v3.json["version"]["media-types"][0]["type"] == "application/vnd.openstack.identity-v3+json"
    assert client.get("/v3/").status_code == 200


def test_issue_project_scoped_token_by_name(client, conf, ids):
    response = issue(client)
    assert response.status_code == 201
    token = response.headers["X-Subject-Token"]
    body = response.json["token"]
    assert body["methods"] == ["password"]
    assert body["user"] == {"id": ids["users"]["demo"], "name": "demo",
                            "domain": {"id": "default", "name": "Default"}, "password_expires_at": None}
    assert body["project"] == {"id": ids["projects"]["demo"], "name": "demo",
                               "domain": {"id": "default", "name": "Default"}}
    assert body["roles"] == [{"id": ids["roles"]["member"], "name": "member"}]
    assert body["expires_at"].endswith("Z") and body["issued_at"].endswith("Z")
    assert len(body["audit_ids"]) == 1
    catalog = {entry["type"]: entry for entry in body["catalog"]}
    assert set(catalog) == {"identity", "compute", "image"}
    urls = {(e["interface"], e["region_id"]): e["url"] for e in catalog["compute"]["endpoints"]}
    assert urls == {(i, "RegionOne"): "http://127.0.0.1:18774/v2.1" for i in ("public", "internal", "admin")}
    assert catalog["identity"]["endpoints"][0]["url"] == conf.identity.public_url + "/v3"
    assert catalog["image"]["endpoints"][0]["url"] == "http://127.0.0.1:19292"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert set(claims) == {"iss", "aud", "sub", "name", "domain_id", "domain_name", "project_id",
                           "project_name", "project_domain_id", "project_domain_name", "roles", "role_ids",
                           "methods", "iat", "exp", "jti", "audit_ids"}
    assert claims["iss"] == "top" and claims["aud"] == ["top"]
    assert claims["sub"] == ids["users"]["demo"] and claims["name"] == "demo"
    assert claims["project_id"] == ids["projects"]["demo"] and claims["project_name"] == "demo"
    assert claims["project_domain_id"] == "default" and claims["domain_id"] == "default"
    assert claims["roles"] == ["member"] and claims["methods"] == ["password"]
    assert claims["exp"] - int(claims["iat"]) == conf.token_ttl
    assert claims["audit_ids"] == body["audit_ids"]
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"


def test_scope_by_project_id_and_domain_name(client, ids):
    body = password_auth("admin", ADMIN_PASSWORD, user_domain={"name": "Default"})
    body["auth"]["scope"] = {"project": {"id": ids["projects"]["admin"]}}
    response = client.post("/v3/auth/tokens", json=body)
    assert response.status_code == 201
    assert response.json["token"]["roles"][0]["name"] == "admin"


def test_unscoped_and_default_project(client):
    explicit = password_auth("demo", DEMO_PASSWORD)
    explicit["auth"]["scope"] = "unscoped"
    response = client.post("/v3/auth/tokens", json=explicit)
    assert response.status_code == 201
    assert "project" not in response.json["token"]
    claims = jwt.decode(response.headers["X-Subject-Token"], options={"verify_signature": False})
    assert claims["project_id"] is None and claims["roles"] == []
    # No scope at all: Keystone scopes to the user's default project.
    response = client.post("/v3/auth/tokens", json=password_auth("demo", DEMO_PASSWORD))
    assert response.json["token"]["project"]["name"] == "demo"


def test_no_role_on_project_is_refused(client):
    response = issue(client, "demo", DEMO_PASSWORD, "admin")
    assert response.status_code == 401
    assert "no role on project" in response.json["error"]["message"]


def test_wrong_password_and_unknown_user(client):
    for user, password in (("demo", "wrong"), ("nobody", "wrong")):
        response = issue(client, user, password)
        assert response.status_code == 401
        assert response.json == {"error": {"code": 401, "title": "Unauthorized", "message": AUTH_REQUIRED}}
        assert response.headers["WWW-Authenticate"].startswith("Keystone")


def test_lockout_after_five_failures(client, db, ids):
    for _ in range(4):
        assert issue(client, "demo", "wrong").json["error"]["message"] == AUTH_REQUIRED
    fifth = issue(client, "demo", "wrong")
    assert fifth.status_code == 401 and "locked" in fifth.json["error"]["message"]
    refused = issue(client, "demo", DEMO_PASSWORD)  # even the right password, while locked
    assert refused.status_code == 401 and "locked" in refused.json["error"]["message"]
    with db.session() as session:
        session.execute(sa.update(User).where(User.name == "demo").values(locked_until=None))
    assert issue(client, "demo", DEMO_PASSWORD).status_code == 201


def test_success_resets_failure_count(client, db):
    for _ in range(3):
        issue(client, "demo", "wrong")
    assert issue(client, "demo", DEMO_PASSWORD).status_code == 201
    with db.session() as session:
        assert session.scalar(sa.select(User.failed_logins).where(User.name == "demo")) == 0


def test_malformed_requests(client):
    bad_json = client.post("/v3/auth/tokens", data="{not json", content_type="application/json")
    assert bad_json.status_code == 400 and bad_json.json["error"]["title"] == "Bad Request"
    missing = client.post("/v3/auth/tokens", json={"auth": {"identity": {"methods": ["password"],
                                                                          "password": {"user": {}}}}})
    assert missing.status_code == 400
    assert "auth.identity.password.user" in missing.json["error"]["message"]
    no_domain = client.post("/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {"name": "demo", "password": "x"}}}}})
    assert no_domain.status_code == 400
    wrong_type = client.post("/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {"name": "demo", "domain": {"id": "default"},
                                                       "password": 123456789}}}}})
    assert wrong_type.status_code == 400 and "123456789" not in wrong_type.get_data(as_text=True)
    assert client.post("/v3/auth/tokens", json=[1]).status_code == 400
    too_big = client.post("/v3/auth/tokens", data="x" * 100_000, content_type="application/json")
    assert too_big.status_code == 413 and "error" in too_big.json
    other_method = client.post("/v3/auth/tokens", json={"auth": {"identity": {"methods": ["totp"]}}})
    assert other_method.status_code == 401
    assert client.get("/v3/nothing").json["error"]["code"] == 404
    assert client.put("/v3/auth/tokens").status_code == 405


def test_jwks_verifies_issued_tokens(client, conf):
    token = issue(client).headers["X-Subject-Token"]
    for path in ("/v3/OS-JWKS", "/.well-known/jwks.json"):
        response = client.get(path)
        assert response.status_code == 200
        keys = parse_jwks(response.json)
        assert jwt.get_unverified_header(token)["kid"] in keys
    ctx = TokenVerifier(conf, StaticKeySource(keys)).verify(token)
    assert ctx.user_name == "demo" and ctx.project_name == "demo" and ctx.roles == ["member"]


def test_validate_and_revoke(client):
    demo = issue(client).headers["X-Subject-Token"]
    admin = issue(client, "admin", ADMIN_PASSWORD, "admin").headers["X-Subject-Token"]
    other = issue(client, "top-service", SERVICE_PASSWORD, "service").headers["X-Subject-Token"]
    assert client.get("/v3/auth/tokens", headers={"X-Subject-Token": demo}).status_code == 401
    own = client.get("/v3/auth/tokens", headers={"X-Auth-Token": demo, "X-Subject-Token": demo})
    assert own.status_code == 200 and own.headers["X-Subject-Token"] == demo
    assert own.json["token"]["roles"][0]["name"] == "member"
    assert own.json["token"]["project"]["domain"]["name"] == "Default"
    by_admin = client.get("/v3/auth/tokens?nocatalog",
                          headers={"X-Auth-Token": admin, "X-Subject-Token": demo})
    assert by_admin.status_code == 200 and "catalog" not in by_admin.json["token"]
    demo_on_admin = client.get("/v3/auth/tokens", headers={"X-Auth-Token": demo, "X-Subject-Token": admin})
    assert demo_on_admin.status_code == 403
    assert client.head("/v3/auth/tokens", headers={"X-Auth-Token": other, "X-Subject-Token": demo}
                       ).status_code == 200
    revoked = client.delete("/v3/auth/tokens", headers={"X-Auth-Token": demo, "X-Subject-Token": demo})
    assert revoked.status_code == 204
    again = client.delete("/v3/auth/tokens", headers={"X-Auth-Token": admin, "X-Subject-Token": demo})
    assert again.status_code == 204  # idempotent
    gone = client.get("/v3/auth/tokens", headers={"X-Auth-Token": admin, "X-Subject-Token": demo})
    assert gone.status_code == 404 and "revoked" in gone.json["error"]["message"]
    garbage = client.get("/v3/auth/tokens", headers={"X-Auth-Token": admin, "X-Subject-Token": "x.y.z"})
    assert garbage.status_code == 404


def test_service_accounts_only_refuses_users(make_conf, sqlite_db):
    from identity.bootstrap import bootstrap

    conf = make_conf("cell1", "compute", parent="top")
    assert conf.service_accounts_only
    db = sqlite_db("compute")
    ids = bootstrap(conf, db, "ignored", "ignored", {"cell1-service": SERVICE_PASSWORD})
    assert set(ids["users"]) == {"cell1-service"} and set(ids["projects"]) == {"service"}
    with db.session() as session:
        session.add(User(id="u1", domain_id="default", name="person", is_service=False,
                         password_hash=session.scalar(sa.select(User.password_hash))))
    client = create_app(conf, db).test_client()
    refused = issue(client, "person", SERVICE_PASSWORD, None)
    assert refused.status_code == 401
    assert refused.json["error"]["message"] == (
        "This identity endpoint accepts only service accounts of cell top!cell1; "
        "users log in at the API cell's identity service.")
    accepted = issue(client, "cell1-service", SERVICE_PASSWORD, "service")
    assert accepted.status_code == 201
    assert jwt.decode(accepted.headers["X-Subject-Token"], options={"verify_signature": False})["iss"] \
        == "top!cell1"


def test_token_lifetime_follows_config(make_conf, sqlite_db):
    from identity.bootstrap import bootstrap

    conf = make_conf(auth={"token_ttl": 120})
    db = sqlite_db("api")
    bootstrap(conf, db, ADMIN_PASSWORD, None, {})
    before = int(time.time())
    response = issue(create_app(conf, db).test_client(), "admin", ADMIN_PASSWORD, "admin")
    claims = jwt.decode(response.headers["X-Subject-Token"], options={"verify_signature": False})
    assert before <= claims["iat"] <= before + 2 and claims["exp"] == int(claims["iat"]) + 120


def test_audience_is_the_issuing_cell_only(make_conf, sqlite_db):
    from identity.bootstrap import bootstrap

    conf = make_conf(cell={"children": [{"name": "cell1", "broker_url": "fake:///c1"}]})
    db = sqlite_db("api")
    bootstrap(conf, db, ADMIN_PASSWORD, None, {})
    response = issue(create_app(conf, db).test_client(), "admin", ADMIN_PASSWORD, "admin")
    claims = jwt.decode(response.headers["X-Subject-Token"], options={"verify_signature": False})
    assert claims["aud"] == ["top"]


def test_issue_and_lockout_on_mariadb(conf, mariadb_db):
    from identity.bootstrap import bootstrap

    db = mariadb_db("api")
    bootstrap(conf, db, ADMIN_PASSWORD, DEMO_PASSWORD, {})
    client = create_app(conf, db).test_client()
    assert issue(client).status_code == 201
    for _ in range(4):
        assert issue(client, "demo", "wrong").json["error"]["message"] == AUTH_REQUIRED
    assert "locked" in issue(client, "demo", "wrong").json["error"]["message"]
    with db.session() as session:
        row = session.execute(sa.select(User.failed_logins, User.locked_until)
                              .where(User.name == "demo")).one()
    assert row[0] == 0 and row[1] is not None
    assert "locked" in issue(client).json["error"]["message"]
