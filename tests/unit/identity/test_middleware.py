"""TokenVerifier, key sources and AuthMiddleware, without an identity service."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from werkzeug.test import Client
from werkzeug.wrappers import Response

from cells.exception import ConfigError, Unauthorized
from identity.key_sources import JwksKeySource, StaticKeySource
from identity.middleware import AuthMiddleware, TokenVerifier

KEY = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": "top", "aud": ["top"], "sub": "u1", "name": "alice", "domain_id": "default",
            "project_id": "p1", "project_name": "proj", "project_domain_id": "default",
            "roles": ["member"], "methods": ["password"], "iat": now, "exp": now + 600,
            "jti": "j1", "audit_ids": ["a1"]}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def mint(key: Ed25519PrivateKey = KEY, kid: str = "k1", **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), key, algorithm="EdDSA", headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def verifier(conf) -> TokenVerifier:
    return TokenVerifier(conf, StaticKeySource({"k1": KEY.public_key()}))


def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthorized) as info:
        verifier.verify(token)
    return info.value.message


def test_valid_token_gives_context(verifier):
    ctx = verifier.verify(mint())
    assert (ctx.user_id, ctx.user_name, ctx.project_id, ctx.project_name, ctx.domain_id) == \
        ("u1", "alice", "p1", "proj", "default")
    assert ctx.roles == ["member"] and ctx.audit_ids == ["a1"] and ctx.cell_path == "top"
    again = verifier.verify(mint())
    assert again.request_id != ctx.request_id  # a fresh context per request, even from the cache
    again.roles.append("admin")
    assert verifier.verify(mint()).roles == ["member"]


def test_expired(verifier):
    assert refused(verifier, mint(iat=int(time.time()) - 1000, exp=int(time.time()) - 60)) == \
        "The token has expired."


def test_tampered_signature_and_payload(verifier):
    token = mint()
    header, payload, signature = token.split(".")
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    assert "signature" in refused(verifier, f"{header}.{payload}.{flipped}")
    forged = b64(json.dumps(claims(roles=["admin"])).encode())
    assert "signature" in refused(verifier, f"{header}.{forged}.{signature}")
    assert "signature" in refused(verifier, mint(OTHER))  # right kid, wrong key


def test_alg_none(verifier):
    header = b64(json.dumps({"alg": "none", "kid": "k1", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims()).encode())
    assert "algorithm 'none'" in refused(verifier, f"{header}.{payload}.")


def test_hs256_with_public_key_as_secret(verifier):
    public_pem = KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    raw = KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    for secret in (public_pem, raw):
        header = b64(json.dumps({"alg": "HS256", "kid": "k1", "typ": "JWT"}).encode())
        payload = b64(json.dumps(claims()).encode())
        import hashlib
        import hmac
        signature = b64(hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        assert "only EdDSA" in refused(verifier, f"{header}.{payload}.{signature}")


def test_wrong_audience(verifier):
    assert "not meant for cell top" in refused(verifier, mint(aud=["top!cell1"]))
    assert "lacks the 'aud'" in refused(verifier, mint(aud=...))


def test_unknown_kid_refreshes_once():
    class CountingSource(StaticKeySource):
        refreshes = 0

        def refresh(self) -> None:
            CountingSource.refreshes += 1

    source = CountingSource({"k1": KEY.public_key()})
    from cells.config import parse
    conf = parse({"cell": {"name": "top", "type": "api"}, "database": {"url": "sqlite://"},
                  "broker": {"url": "fake:///x"}})
    message = refused(TokenVerifier(conf, source), mint(OTHER, kid="k2"))
    assert "unknown key 'k2'" in message and CountingSource.refreshes == 1


def test_oversized_truncated_and_garbage(verifier):
    assert "larger than 8192" in refused(verifier, mint(name="x" * 9000))
    token = mint()
    assert refused(verifier, token[: len(token) // 2])
    assert refused(verifier, token.rsplit(".", 1)[0]) == "The token is malformed."
    assert refused(verifier, "not-a-token") == "The token is malformed."
    assert "claim 'roles'" in refused(verifier, mint(roles="admin"))
    assert "issuer 'elsewhere'" in refused(verifier, mint(iss="elsewhere"))


def test_trusted_issuer_requires_one_of_its_roles(make_conf):
    conf = make_conf("cell1", "compute", parent="top", auth={
        "trusted_issuers": [{"issuer": "top", "jwks_url": "http://127.0.0.1:1/jwks", "roles": ["admin"]}]})
    verifier = TokenVerifier(conf, StaticKeySource({"k1": KEY.public_key()}))
    audience = ["top", "top!cell1"]
    ctx = verifier.verify(mint(aud=audience, roles=["admin", "member"]))
    # Only the roles the issuer is trusted for count here.
    assert ctx.roles == ["admin"] and ctx.cell_path == "top!cell1"
    assert "only with one of the roles admin" in refused(verifier, mint(aud=audience, roles=["member"]))
    # A trusted issuer's token for its own cell is accepted too, with the role.
    assert verifier.verify(mint(roles=["admin"])).roles == ["admin"]  # aud ["top"]
    assert "not meant for cell top!cell1" in refused(verifier, mint(aud=["top!cell2"],
                                                                    roles=["admin"]))
    own = mint(iss="top!cell1", aud=["top!cell1"], roles=["service"])
    assert verifier.verify(own).roles == ["service"]


def test_trusted_issuer_only_for_the_services_listed(make_conf):
    conf = make_conf("top", "api", auth={"trusted_issuers": [
        {"issuer": "top!cell1", "jwks_url": "http://127.0.0.1:1/jwks", "roles": ["service"],
         "services": ["images"]}]})
    source = StaticKeySource({"k1": KEY.public_key()})
    cell_token = mint(iss="top!cell1", aud=["top!cell1"], roles=["service"])
    assert TokenVerifier(conf, source, service="images").verify(cell_token).roles == ["service"]
    assert "not trusted" in refused(TokenVerifier(conf, source, service="api"), cell_token)


def test_keys_are_bound_to_their_issuer(make_conf, monkeypatch):
    conf = make_conf("cell1", "compute", parent="top", auth={
        "trusted_issuers": [{"issuer": "top", "jwks_url": "http://127.0.0.1:9/top-jwks", "roles": []}]})
    verifier = TokenVerifier(conf)
    top_keys = {"kt": KEY.public_key()}
    own_keys = {"kc": OTHER.public_key()}
    for source in verifier._sources.values():
        keys = top_keys if source.urls == ["http://127.0.0.1:9/top-jwks"] else own_keys
        monkeypatch.setattr(source, "get", keys.get)
        monkeypatch.setattr(source, "refresh", lambda: None)
    # top's key cannot vouch for a token claiming to come from the cell itself.
    forged = mint(KEY, kid="kt", iss="top!cell1", aud=["top!cell1"])
    assert "unknown key 'kt'" in refused(verifier, forged)
    assert verifier.verify(mint(KEY, kid="kt", aud=["top!cell1"])).user_id == "u1"


def test_verifier_needs_somewhere_to_get_keys():
    from cells.config import parse
    conf = parse({"cell": {"name": "top", "type": "api"}, "database": {"url": "sqlite://"},
                  "broker": {"url": "fake:///x"}})
    with pytest.raises(ConfigError):
        TokenVerifier(conf)


def test_cache_entries_end_at_expiry(verifier, monkeypatch):
    token = mint(exp=int(time.time()) + 100)
    verifier.verify(token)
    calls = []
    original = verifier._verify
    monkeypatch.setattr(verifier, "_verify", lambda t: calls.append(t) or original(t))
    verifier.verify(token)
    assert calls == []  # served from the cache
    future = time.time() + 200
    monkeypatch.setattr(time, "time", lambda: future)
    # Past its expiry the entry is gone: the token is verified again (and PyJWT, on its own clock,
    # refuses it once it really has expired).
    verifier.verify(token)
    assert calls == [token]


def test_jwks_source_fetches_and_rate_limits(monkeypatch):
    fetches: list[str] = []
    document = {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1", "alg": "EdDSA", "use": "sig",
                          "x": b64(KEY.public_key().public_bytes(serialization.Encoding.Raw,
                                                                 serialization.PublicFormat.Raw))},
                         {"kty": "RSA", "kid": "r1", "n": "AQAB", "e": "AQAB"}]}

    class FakeResponse:
        def raise_for_status(self) -> None:
            return None

        def json(self) -> dict[str, Any]:
            return document

    class FakeSession:
        def get(self, url: str, timeout: float) -> FakeResponse:
            assert timeout == 5.0
            fetches.append(url)
            return FakeResponse()

    source = JwksKeySource(["http://127.0.0.1:9/jwks"], 60.0, session=FakeSession())  # type: ignore[arg-type]
    assert source.get("k1") is not None and fetches == ["http://127.0.0.1:9/jwks"]
    assert source.get("r1") is None  # not an Ed25519 signing key
    source.refresh()
    source.refresh()
    assert len(fetches) == 1  # refreshes on unknown kids are rate-limited
    source._fetched_at -= 10
    source.refresh()
    assert len(fetches) == 2


def _app(environ, start_response):
    ctx = environ["cloud.context"] if "cloud.context" in environ else None
    body = json.dumps({"user": ctx.user_id if ctx else None}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def test_auth_middleware(conf):
    verifier = TokenVerifier(conf, StaticKeySource({"k1": KEY.public_key()}))
    app = AuthMiddleware(_app, conf, verifier=verifier, public_paths=("/", "/v2.1", "/static/"))
    client = Client(app, Response)
    assert client.get("/").json == {"user": None}
    assert client.get("/v2.1").json == {"user": None}
    assert client.get("/static/x/y").json == {"user": None}
    missing = client.get("/servers")
    assert missing.status_code == 401
    assert missing.json["error"]["message"] == "The request you have made requires authentication."
    assert missing.headers["WWW-Authenticate"] == f'Keystone uri="{conf.identity_url}"'
    assert client.get("/v2.1/servers").status_code == 401  # "/v2.1" is exact, not a prefix
    assert client.get("/servers", headers={"X-Auth-Token": mint()}).json == {"user": "u1"}
    expired = client.get("/servers", headers={"X-Auth-Token": mint(exp=int(time.time()) - 60)})
    assert expired.status_code == 401 and expired.json["error"]["message"] == "The token has expired."


def test_auth_middleware_custom_error_body(conf):
    verifier = TokenVerifier(conf, StaticKeySource({}))
    app = AuthMiddleware(_app, conf, verifier=verifier,
                         error_body=lambda code, msg: {"unauthorized": {"code": code, "message": msg}})
    response = Client(app, Response).get("/x", headers={"X-Auth-Token": "junk"})
    assert response.status_code == 401
    assert response.json == {"unauthorized": {"code": 401, "message": "The token is malformed."}}
