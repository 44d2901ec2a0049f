"""Bad tokens and bad bodies at every service: a clear 401 or 400, never a 500, and no secret in the logs.

Uses the policy matrix's cloud (the real compute, image and identity apps on one SQLite database).
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from identity.keys import KeyRepository
from tests.unit.test_policy_matrix import Cloud, cloud  # noqa: F401  (the module-scoped fixture)

# One read route per service that any valid token of a project member may call.
ROUTES = {"compute": "/v2.1/servers", "image": "/v2/images", "identity": "/v3/auth/projects"}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(made: Cloud, **changes: Any) -> dict[str, Any]:
    good = jwt.decode(made.tokens["member_a"], options={"verify_signature": False})
    return {**good, "jti": uuid.uuid4().hex, **changes}


def bad_tokens(made: Cloud) -> dict[str, tuple[str, str]]:
    """name -> (token, a phrase the 401 message must hold)."""
    kid, key = KeyRepository(made.conf.key_repository).signing_key()
    good = made.tokens["member_a"]
    assert good is not None
    header, payload, signature = good.split(".")
    forged_sig = signature[:-6] + ("AAAAAA" if not signature.endswith("AAAAAA") else "BBBBBB")
    now = time.time()
    return {
        "forged signature": (f"{header}.{payload}.{forged_sig}", "signature"),
        "forged payload": (f"{header}.{_b64(_claims(made, roles=['admin']))}.{signature}", "signature"),
        "alg none": (f"{_b64({'alg': 'none', 'kid': kid})}.{payload}.", "algorithm"),
        "alg HS256": (jwt.encode(_claims(made), "x" * 32, algorithm="HS256", headers={"kid": kid}),
                      "algorithm"),
        "wrong audience": (jwt.encode(_claims(made, aud=["top!cell9"]), key, algorithm="EdDSA",
                                      headers={"kid": kid}), "audience"),
        "expired": (jwt.encode(_claims(made, iat=now - 7200, exp=now - 3600), key, algorithm="EdDSA",
                               headers={"kid": kid}), "expired"),
        "truncated": (good[: len(good) // 2], "malformed"),
        "oversized": (good + "A" * 9000, "larger than"),
        "unknown kid": (jwt.encode(_claims(made), Ed25519PrivateKey.generate(), algorithm="EdDSA",
                                   headers={"kid": "no-such-key"}), "unknown key"),
        "garbage": ("not a token at all", "malformed"),
    }


def _message(response: Any) -> str:
    body = response.get_json(silent=True) or {}
    for key in ("error", "unauthorized", "badRequest"):
        if isinstance(body.get(key), dict):
            return str(body[key].get("message", ""))
    return str(body.get("message", ""))


@pytest.mark.parametrize("service", sorted(ROUTES))
def test_bad_tokens_get_a_clear_401_and_stay_out_of_logs(cloud, service, caplog):  # noqa: F811
    app = cloud.app(service, f"bad-tokens-{service}")
    client = app.test_client()
    assert client.get(ROUTES[service], headers={"X-Auth-Token": cloud.tokens["member_a"]}).status_code == 200
    caplog.set_level(logging.DEBUG)
    for name, (token, phrase) in bad_tokens(cloud).items():
        response = client.get(ROUTES[service], headers={"X-Auth-Token": token})
        assert response.status_code == 401, (name, response.status_code, response.data[:200])
        assert response.headers["WWW-Authenticate"].startswith("Keystone")
        message = _message(response)
        assert phrase in message.lower(), (name, message)
        assert token not in caplog.text and token[:60] not in caplog.text, name


def test_wrong_password_and_malformed_bodies(cloud, caplog):  # noqa: F811
    apps = cloud.apps("bad-bodies")
    identity, compute, image = (apps[s].test_client() for s in ("identity", "compute", "image"))
    caplog.set_level(logging.DEBUG)
    secret = "hunter2-" + uuid.uuid4().hex
    login = {"user": {"name": "alice", "domain": {"id": "default"}, "password": secret}}
    wrong = identity.post("/v3/auth/tokens",
                          json={"auth": {"identity": {"methods": ["password"], "password": login}}})
    assert wrong.status_code == 401 and "requires authentication" in _message(wrong)
    headers = {"X-Auth-Token": cloud.tokens["member_a"], "Content-Type": "application/json"}
    for client, path in ((identity, "/v3/auth/tokens"), (compute, "/v2.1/servers"), (image, "/v2/images")):
        for body in ("{not json", "[1, 2]", '{"auth": 5}', "\xff\xfe"):
            response = client.post(path, data=body, headers=headers)
            assert response.status_code == 400, (path, body, response.status_code, response.data[:200])
            assert _message(response), (path, body)
    assert secret not in caplog.text
    assert cloud.tokens["member_a"] not in caplog.text
