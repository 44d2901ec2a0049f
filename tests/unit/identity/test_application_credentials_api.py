"""/v3/users/<user_id>/application_credentials (``openstack application credential create/list/delete``)."""

from __future__ import annotations

import datetime as dt

from cells.db.identity_models import ApplicationCredential
from tests.unit.identity.resources import Caller, admin, assert_error, demo, events, new_events

FIELDS = {"id", "name", "description", "user_id", "project_id", "roles", "expires_at", "unrestricted",
          "access_rules", "links"}


def path(ids, suffix: str = "") -> str:
    return f"/v3/users/{ids['users']['demo']}/application_credentials{suffix}"


def make(api: Caller, ids, **attrs):
    """POST a credential for demo with ``attrs``."""
    return api.post(path(ids), json={"application_credential": attrs})


def app_cred_token(client, credential_id: str, secret: str) -> Caller:
    response = client.post("/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": credential_id, "secret": secret}}}})
    assert response.status_code == 201, response.json
    return Caller(client, response.headers["X-Subject-Token"])


def test_create_list_show_delete(client, conf, db, ids):
    user = demo(client)
    created = user.post(path(ids), json={"application_credential": {"name": "monitoring",
                                                                     "description": "For monitoring."}})
    assert created.status_code == 201
    cred = created.json["application_credential"]
    assert set(cred) == FIELDS | {"secret"}
    assert len(cred["secret"]) >= 64
    assert cred["user_id"] == ids["users"]["demo"] and cred["project_id"] == ids["projects"]["demo"]
    assert cred["roles"] == [{"id": ids["roles"]["member"], "name": "member", "domain_id": None}]
    assert cred["unrestricted"] is False and cred["expires_at"] is None and cred["access_rules"] == []
    assert cred["links"]["self"] == f"{conf.identity.public_url}{path(ids, '/' + cred['id'])}"
    stored = db.transaction(lambda s: s.get(ApplicationCredential, cred["id"]).secret_hash)
    assert stored.startswith("scrypt$") and cred["secret"] not in stored

    shown = user.get(path(ids, f"/{cred['id']}")).json["application_credential"]
    assert "secret" not in shown and set(shown) == FIELDS
    listed = user.get(path(ids)).json["application_credentials"]
    assert [c["id"] for c in listed] == [cred["id"]] and "secret" not in listed[0]
    assert user.get(path(ids, "?name=monitoring")).json["application_credentials"][0]["id"] == cred["id"]
    assert user.get(path(ids, "?name=other")).json["application_credentials"] == []

    token = app_cred_token(client, cred["id"], cred["secret"])
    assert token.get(f"/v3/projects/{ids['projects']['demo']}").status_code == 200

    before = events(db)
    assert user.delete(path(ids, f"/{cred['id']}")).status_code == 204
    assert new_events(db, before) == [{"application_credential_id": cred["id"]}]
    assert_error(token.get(f"/v3/projects/{ids['projects']['demo']}"), 401)
    assert_error(user.get(path(ids, f"/{cred['id']}")), 404, "Could not find application credential")
    assert_error(user.delete(path(ids, f"/{cred['id']}")), 404)


def test_given_secret_roles_and_expiry(client, ids):
    user = demo(client)
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).replace(microsecond=0)
    response = make(user, ids, name="ci", secret="my-own-secret", roles=[{"name": "member"}],
                    expires_at=expires.strftime("%Y-%m-%dT%H:%M:%SZ"), unrestricted=False)
    cred = response.json["application_credential"]
    assert cred["secret"] == "my-own-secret"
    assert cred["expires_at"] == expires.strftime("%Y-%m-%dT%H:%M:%S.000000")
    assert_error(make(user, ids, name="ci"), 409, "ci")
    assert_error(make(user, ids, name="x", roles=[{"name": "admin"}]), 400, "admin")
    assert_error(make(user, ids, name="x", roles=[{"id": "nope"}]), 404, "nope")
    assert_error(make(user, ids, name="x", expires_at="2001-01-01T00:00:00Z"), 400, "future")
    assert_error(make(user, ids, name="x", expires_at="soon"), 400)
    assert_error(make(user, ids, name="x", color="red"), 400)
    assert_error(make(user, ids, name="x", roles=[{}]), 400)
    assert_error(make(user, ids, name="x", roles="member"), 400)
    rules = [{"path": "/v2.1/servers", "method": "GET", "service": "compute"}]
    assert_error(make(user, ids, name="x", access_rules=rules), 400, "Access rules")
    assert_error(user.post(path(ids), data="{"), 400, "JSON")


def test_only_for_oneself_and_not_from_a_restricted_credential(client, ids):
    api = admin(client)
    assert make(api, ids, name="x").status_code == 403
    user = demo(client)
    restricted = make(user, ids, name="r").json["application_credential"]
    token = app_cred_token(client, restricted["id"], restricted["secret"])
    assert_error(make(token, ids, name="child"), 403, "application_credential")
    assert_error(token.delete(path(ids, f"/{restricted['id']}")), 403)
    unrestricted = make(user, ids, name="u", unrestricted=True).json["application_credential"]
    assert unrestricted["unrestricted"] is True
    token = app_cred_token(client, unrestricted["id"], unrestricted["secret"])
    assert make(token, ids, name="child").status_code == 201
    # The admin reads (and may delete) other users' credentials, but sees no secrets.
    listed = api.get(path(ids)).json["application_credentials"]
    assert {c["name"] for c in listed} == {"r", "u", "child"} and all("secret" not in c for c in listed)
