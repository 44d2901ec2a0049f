"""POST /v3/auth/tokens with the token and application_credential methods, domain scope,
and roles held through groups and inheritance down the project tree."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import jwt
import pytest

from cells.db.identity_models import (
    GROUP_PROJECT,
    USER_DOMAIN,
    USER_PROJECT,
    ApplicationCredential,
    Assignment,
    Group,
    GroupMembership,
    Project,
)
from cells.db.types import utcnow
from identity import revocation
from identity.passwords import hash_password
from identity.service import EXTENSION
from tests.unit.identity.conftest import DEMO_PASSWORD, issue


def rescope(client, token: str, scope: dict[str, Any] | None = None):
    body: dict[str, Any] = {"auth": {"identity": {"methods": ["token"], "token": {"id": token}}}}
    if scope is not None:
        body["auth"]["scope"] = scope
    return client.post("/v3/auth/tokens", json=body)


def app_cred_auth(client, secret: str, **ref: Any):
    return client.post("/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"], "application_credential": {"secret": secret, **ref}}}})


def add_project(db, name: str, parent: str | None = None) -> str:
    project_id = uuid.uuid4().hex
    db.transaction(lambda s: s.add(Project(id=project_id, domain_id="default", name=name,
                                           parent_id=parent, enabled=True)))
    return project_id


def assign(db, kind: str, actor: str, target: str, role: str, inherited: bool = False) -> None:
    db.transaction(lambda s: s.add(Assignment(type=kind, actor_id=actor, target_id=target, role_id=role,
                                              inherited=inherited)))


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def test_rescope_to_another_project_keeps_the_audit_chain_and_expiry(client, db, ids):
    other = add_project(db, "other")
    assign(db, USER_PROJECT, ids["users"]["demo"], other, ids["roles"]["reader"])
    first = issue(client).headers["X-Subject-Token"]
    response = rescope(client, first, {"project": {"id": other}})
    assert response.status_code == 201, response.json
    body = response.json["token"]
    assert body["project"]["id"] == other
    assert body["roles"] == [{"id": ids["roles"]["reader"], "name": "reader"}]
    assert body["methods"] == ["password", "token"]
    original, rescoped = claims_of(first), claims_of(response.headers["X-Subject-Token"])
    assert rescoped["audit_ids"] == [body["audit_ids"][0], original["audit_ids"][0]]
    assert rescoped["exp"] <= original["exp"]
    assert rescoped["sub"] == original["sub"]


def test_rescope_without_scope_keeps_the_original_scope(client, ids):
    first = issue(client).headers["X-Subject-Token"]
    response = rescope(client, first)
    assert response.status_code == 201
    assert response.json["token"]["project"]["id"] == ids["projects"]["demo"]


def test_rescope_refused_without_role_or_with_a_bad_or_revoked_token(client, db, ids):
    stranger = add_project(db, "stranger")
    first = issue(client).headers["X-Subject-Token"]
    refused = rescope(client, first, {"project": {"id": stranger}})
    assert refused.status_code == 401
    assert "no role on project" in refused.json["error"]["message"]
    assert rescope(client, first[:-4] + "AAAA").status_code == 401
    assert rescope(client, "not-a-token").status_code == 401
    assert client.delete("/v3/auth/tokens", headers={"X-Auth-Token": first,
                                                     "X-Subject-Token": first}).status_code == 204
    revoked = rescope(client, first)
    assert revoked.status_code == 401 and "revoked" in revoked.json["error"]["message"]


def test_revoking_one_token_leaves_tokens_rescoped_from_it(client, ids):
    first = issue(client).headers["X-Subject-Token"]
    second = rescope(client, first).headers["X-Subject-Token"]
    client.delete("/v3/auth/tokens", headers={"X-Auth-Token": first, "X-Subject-Token": first})
    check = client.get("/v3/auth/tokens", headers={"X-Auth-Token": second, "X-Subject-Token": second})
    assert check.status_code == 200


def test_revoking_a_chain_revokes_every_token_rescoped_from_it(client, db, ids):
    first = issue(client).headers["X-Subject-Token"]
    second = rescope(client, first).headers["X-Subject-Token"]
    chain = claims_of(first)["audit_ids"][0]
    db.transaction(lambda s: revocation.record(s, 3600, audit_chain_id=chain))
    client.application.extensions[EXTENSION].revocations.refresh()  # as the handlers do
    for token in (first, second):
        check = client.get("/v3/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": token})
        assert check.status_code in (401, 404)


def test_roles_through_groups_and_inheritance_down_the_tree(client, db, ids):
    root = add_project(db, "root")
    child = add_project(db, "child", root)
    grandchild = add_project(db, "grandchild", child)
    group = uuid.uuid4().hex
    db.transaction(lambda s: s.add(Group(id=group, domain_id="default", name="team")))
    db.transaction(lambda s: s.add(GroupMembership(group_id=group, user_id=ids["users"]["demo"])))
    assign(db, GROUP_PROJECT, group, root, ids["roles"]["member"], inherited=True)
    first = issue(client).headers["X-Subject-Token"]
    # Inherited: not on the root itself, on every project below it.
    assert rescope(client, first, {"project": {"id": root}}).status_code == 401
    for project in (child, grandchild):
        response = rescope(client, first, {"project": {"id": project}})
        assert response.status_code == 201
        assert [r["name"] for r in response.json["token"]["roles"]] == ["member"]


def test_domain_scoped_token(client, db, ids):
    assign(db, USER_DOMAIN, ids["users"]["demo"], "default", ids["roles"]["reader"])
    first = issue(client).headers["X-Subject-Token"]
    response = rescope(client, first, {"domain": {"id": "default"}})
    assert response.status_code == 201
    body = response.json["token"]
    assert body["domain"] == {"id": "default", "name": "Default"} and "project" not in body
    assert body["roles"] == [{"id": ids["roles"]["reader"], "name": "reader"}]
    claims = claims_of(response.headers["X-Subject-Token"])
    assert claims["scope_domain_id"] == "default" and claims["project_id"] is None
    assert rescope(client, first, {"domain": {"name": "Nowhere"}}).status_code == 401


def test_system_scope_and_both_scopes_are_refused(client):
    first = issue(client).headers["X-Subject-Token"]
    system = rescope(client, first, {"system": {"all": True}})
    assert system.status_code == 401 and "System-scoped" in system.json["error"]["message"]
    both = rescope(client, first, {"project": {"id": "x"}, "domain": {"id": "default"}})
    assert both.status_code == 400


@pytest.fixture
def credential(db, ids) -> dict[str, str]:
    secret = "s3cret-" + uuid.uuid4().hex
    cred_id = uuid.uuid4().hex
    db.transaction(lambda s: s.add(ApplicationCredential(
        id=cred_id, name="ci", user_id=ids["users"]["demo"], project_id=ids["projects"]["demo"],
        secret_hash=hash_password(secret, 10), roles=[ids["roles"]["member"]], unrestricted=False)))
    return {"id": cred_id, "secret": secret}


def test_application_credential_by_id_and_by_name(client, ids, credential):
    response = app_cred_auth(client, credential["secret"], id=credential["id"])
    assert response.status_code == 201, response.json
    body = response.json["token"]
    assert body["methods"] == ["application_credential"]
    assert body["project"]["id"] == ids["projects"]["demo"]
    assert body["application_credential"] == {"id": credential["id"], "name": "ci", "restricted": True}
    assert claims_of(response.headers["X-Subject-Token"])["app_cred_id"] == credential["id"]
    by_name = app_cred_auth(client, credential["secret"], name="ci",
                            user={"name": "demo", "domain": {"id": "default"}})
    assert by_name.status_code == 201


def test_application_credential_refusals(client, db, ids, credential):
    assert app_cred_auth(client, "wrong", id=credential["id"]).status_code == 401
    assert app_cred_auth(client, credential["secret"], id="missing").status_code == 401
    token = app_cred_auth(client, credential["secret"], id=credential["id"]).headers["X-Subject-Token"]
    cannot = rescope(client, token)
    assert cannot.status_code == 401 and "application credential" in cannot.json["error"]["message"]
    scoped = client.post("/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["application_credential"],
                     "application_credential": {"id": credential["id"], "secret": credential["secret"]}},
        "scope": {"project": {"id": ids["projects"]["demo"]}}}})
    assert scoped.status_code == 401 and "cannot request a scope" in scoped.json["error"]["message"]
    # The user loses the role the credential delegates: the credential stops working.
    db.transaction(lambda s: s.query(Assignment).filter_by(actor_id=ids["users"]["demo"]).delete())
    lost = app_cred_auth(client, credential["secret"], id=credential["id"])
    assert lost.status_code == 401 and "no longer holds" in lost.json["error"]["message"]


def test_expired_application_credential(client, db, ids, credential):
    past = utcnow() - dt.timedelta(minutes=1)
    db.transaction(lambda s: s.query(ApplicationCredential).filter_by(id=credential["id"]).update(
        {"expires_at": past}))
    response = app_cred_auth(client, credential["secret"], id=credential["id"])
    assert response.status_code == 401 and "expired" in response.json["error"]["message"]


def test_application_credential_token_never_outlives_the_credential(client, db, credential):
    soon = utcnow() + dt.timedelta(minutes=5)
    db.transaction(lambda s: s.query(ApplicationCredential).filter_by(id=credential["id"]).update(
        {"expires_at": soon}))
    token = app_cred_auth(client, credential["secret"], id=credential["id"]).headers["X-Subject-Token"]
    assert claims_of(token)["exp"] <= soon.replace(tzinfo=dt.UTC).timestamp()


def test_unknown_and_combined_methods_are_refused(client, ids):
    for methods in (["totp"], ["password", "token"]):
        response = client.post("/v3/auth/tokens", json={"auth": {"identity": {"methods": methods}}})
        assert response.status_code == 401
    missing = client.post("/v3/auth/tokens", json={"auth": {"identity": {"methods": ["token"]}}})
    assert missing.status_code == 400


def test_login_after_password_change_event_is_not_revoked(client, db, ids):
    """A token issued in the same second as a revocation event, but after it, stays valid."""
    db.transaction(lambda s: revocation.record(s, 3600, user_id=ids["users"]["demo"]))
    token = issue(client, "demo", DEMO_PASSWORD).headers["X-Subject-Token"]
    check = client.get("/v3/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert check.status_code == 200


def test_auth_projects_domains_and_catalog(client, db, ids):
    root = add_project(db, "tree-root")
    child = add_project(db, "tree-child", root)
    assign(db, USER_PROJECT, ids["users"]["demo"], root, ids["roles"]["reader"], inherited=True)
    assign(db, USER_DOMAIN, ids["users"]["demo"], "default", ids["roles"]["reader"])
    token = issue(client).headers["X-Subject-Token"]
    headers = {"X-Auth-Token": token}
    projects = client.get("/v3/auth/projects", headers=headers).json["projects"]
    assert {p["id"] for p in projects} == {ids["projects"]["demo"], child}
    domains = client.get("/v3/auth/domains", headers=headers).json["domains"]
    assert [d["id"] for d in domains] == ["default"]
    catalog = client.get("/v3/auth/catalog", headers=headers).json["catalog"]
    assert {entry["type"] for entry in catalog} == {"identity", "compute", "image"}
    assert client.get("/v3/auth/projects").status_code == 401
