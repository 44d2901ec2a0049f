"""Regressions from the adversarial review of issue 3: revocation, lockout, token timing, bad input."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cells.exception import Unauthorized
from identity import passwords, revocation
from identity.app import create_app
from identity.auth import LockoutPolicy
from identity.key_sources import StaticKeySource
from identity.middleware import TokenVerifier
from identity.revocation_feed import RevocationFeed
from identity.service import EXTENSION
from tests.unit.identity.conftest import ADMIN_PASSWORD, DEMO_PASSWORD, issue, password_auth

KEY = Ed25519PrivateKey.generate()


def token_of(response: Any) -> str:
    assert response.status_code == 201, response.json
    return str(response.headers["X-Subject-Token"])


def record(db: Any, **match: Any) -> None:
    """A revocation committed by another identity process (nothing here is told about it)."""
    db.transaction(lambda s: revocation.record(s, 3600, **match))


def rescope(client: Any, token: str) -> Any:
    return client.post("/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["token"], "token": {"id": token}}}})


# --- revocation in a process that has not loaded its events yet -----------------------


def test_a_fresh_process_refuses_to_rescope_a_revoked_token(conf, db, ids, client):
    token = token_of(issue(client))
    record(db, user_id=ids["users"]["demo"])  # say, the password changed in another process
    fresh = create_app(conf, db).test_client()  # a restarted identity process: only POSTs so far
    response = rescope(fresh, token)
    assert response.status_code == 401 and "revoked" in response.json["error"]["message"]


def test_a_fresh_process_refuses_a_revoked_token_on_its_first_request(conf, db, ids, client):
    token = token_of(issue(client))
    admin = token_of(issue(client, "admin", ADMIN_PASSWORD, "admin"))
    record(db, user_id=ids["users"]["demo"])
    fresh = create_app(conf, db).test_client()
    # Validated by an admin: the revoked subject is not found ...
    checked = fresh.get("/v3/auth/tokens", headers={"X-Auth-Token": admin, "X-Subject-Token": token})
    assert checked.status_code == 404
    # ... and as the caller of another fresh process, refused from the very first request.
    again = create_app(conf, db).test_client()
    assert again.get("/v3/auth/projects", headers={"X-Auth-Token": token}).status_code == 401


class SlowFeed(RevocationFeed):
    """Serves one event revoking user u1, slowly (an identity service some milliseconds away)."""

    def __init__(self) -> None:
        super().__init__("top", 60.0)

    def _fetch(self, since: float | None) -> tuple[list[dict[str, Any]], bool]:
        time.sleep(0.2)
        when = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(time.time() + 5))
        return [{"id": 1, "user_id": "u1", "issued_before": when, "revoked_at": when}], True


def test_the_first_verification_waits_for_the_first_fetch_of_events(conf):
    feed = SlowFeed()
    verifier = TokenVerifier(conf, StaticKeySource({"k1": KEY.public_key()}), revocations={"top": feed})
    now = time.time()
    token = jwt.encode({"iss": "top", "aud": ["top"], "sub": "u1", "roles": ["member"], "iat": now,
                        "exp": now + 600, "jti": "j1", "audit_ids": ["a1"]},
                       KEY, algorithm="EdDSA", headers={"kid": "k1"})
    try:
        with pytest.raises(Unauthorized, match="revoked"):
            verifier.verify(token)
    finally:
        feed.stop()


# --- tokens issued while a revocation is being recorded --------------------------------


def test_a_login_racing_a_password_change_gets_a_revoked_token(client, db, ids, app, monkeypatch):
    original = passwords.verify_password
    raced: list[bool] = []

    def verify_while_password_changes(password: str, encoded: str | None) -> bool:
        matched = original(password, encoded)
        if not raced:  # the login's check: the old password, read just before it changed
            raced.append(True)
            record(db, user_id=ids["users"]["demo"])
            time.sleep(0.005)
        return matched

    monkeypatch.setattr(passwords, "verify_password", verify_while_password_changes)
    token = token_of(issue(client))
    app.extensions[EXTENSION].revocations.refresh()
    headers = {"X-Auth-Token": token, "X-Subject-Token": token}
    assert client.get("/v3/auth/tokens", headers=headers).status_code == 401


# --- the password change counts towards the lockout ------------------------------------


def test_password_change_with_wrong_originals_locks_the_account(client, ids):
    token = token_of(issue(client))
    url = f"/v3/users/{ids['users']['demo']}/password"
    headers = {"X-Auth-Token": token}

    def change(original: str) -> Any:
        return client.post(url, headers=headers, json={"user": {"original_password": original,
                                                                "password": "brand-new-1"}})

    for n in range(4):
        wrong = change(f"guess-{n}")
        assert wrong.status_code == 401 and "original password is incorrect" in wrong.json["error"]["message"]
    locked = change("guess-4")  # the fifth failure locks (the app's LockoutPolicy(5, 300))
    assert locked.status_code == 401 and "locked" in locked.json["error"]["message"]
    assert "locked" in change(DEMO_PASSWORD).json["error"]["message"]  # no more guesses, not even right
    login = client.post("/v3/auth/tokens", json=password_auth("demo", DEMO_PASSWORD, "demo"))
    assert login.status_code == 401 and "locked" in login.json["error"]["message"]


def test_password_change_with_the_right_original_still_works(conf, db, ids):
    client = create_app(conf, db, lockout=LockoutPolicy(attempts=3, seconds=300)).test_client()
    token = token_of(issue(client))
    url = f"/v3/users/{ids['users']['demo']}/password"
    wrong = client.post(url, headers={"X-Auth-Token": token},
                        json={"user": {"original_password": "nope", "password": "brand-new-1"}})
    assert wrong.status_code == 401
    right = client.post(url, headers={"X-Auth-Token": token},
                        json={"user": {"original_password": DEMO_PASSWORD, "password": "brand-new-1"}})
    assert right.status_code == 204
    login = client.post("/v3/auth/tokens", json=password_auth("demo", "brand-new-1", "demo"))
    assert login.status_code == 201


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize("expires_at", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_application_credential_expiry_out_of_range_is_400(client, ids, expires_at):
    token = token_of(issue(client))
    response = client.post(f"/v3/users/{ids['users']['demo']}/application_credentials",
                           headers={"X-Auth-Token": token},
                           json={"application_credential": {"name": "far", "expires_at": expires_at}})
    assert response.status_code == 400 and "expires_at" in response.json["error"]["message"]


# --- trusted issuers ---------------------------------------------------------------------


def test_a_trusted_issuer_vouches_only_for_the_roles_it_is_trusted_for(make_conf):
    conf = make_conf("top", "api", auth={"trusted_issuers": [
        {"issuer": "top!cell1", "jwks_url": "http://127.0.0.1:9/v3/OS-JWKS", "roles": ["service"],
         "services": ["images"]}]})
    verifier = TokenVerifier(conf, StaticKeySource({"k1": KEY.public_key()}), service="images",
                             revocations={})
    now = time.time()
    # A cell's token (its identity compromised, or its key stolen) claiming admin besides service.
    claims = {"iss": "top!cell1", "aud": ["top!cell1"], "sub": "cell-user", "roles": ["service", "admin"],
              "project_id": "victim", "iat": now, "exp": now + 600, "jti": "j1", "audit_ids": ["a1"]}
    token = jwt.encode(claims, KEY, algorithm="EdDSA", headers={"kid": "k1"})
    ctx = verifier.verify(token)
    assert ctx.roles == ["service"] and not ctx.is_admin
