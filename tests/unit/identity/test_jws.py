"""The single-pass JWS/JWT checks against tokens made by PyJWT, good and bad."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from identity import jws

KEY = Ed25519PrivateKey.generate()
NOW = 1_800_000_000.0


def make(claims: dict[str, Any] | None = None, headers: dict[str, Any] | None = None) -> str:
    body = {"iss": "top", "aud": ["top"], "sub": "u", "iat": NOW, "exp": NOW + 60, "jti": "j",
            **(claims or {})}
    return jwt.encode(body, KEY, algorithm="EdDSA", headers={"kid": "k", **(headers or {})})


def check(token: str, audiences: tuple[str, ...] = ("top",)) -> dict[str, Any]:
    parsed = jws.parse(token)
    jws.check_header(parsed.header)
    jws.verify_signature(parsed, KEY.public_key())
    jws.check_claims(parsed.claims, issuer="top", audiences=audiences,
                     required=("exp", "iat", "iss", "aud", "sub", "jti"), leeway=10, now=lambda: NOW)
    return parsed.claims


def kind_of(token: str, **kwargs: Any) -> str:
    with pytest.raises(jws.JwsError) as info:
        check(token, **kwargs)
    return info.value.kind


def b64(data: Any) -> str:
    raw = json.dumps(data).encode() if not isinstance(data, bytes) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_good_tokens_pass_with_the_same_claims_pyjwt_sees():
    token = make({"aud": "top"})
    assert check(token) == jwt.decode(token, KEY.public_key(), algorithms=["EdDSA"], audience="top",
                                      options={"verify_exp": False, "verify_iat": False})


@pytest.mark.parametrize(("claims", "kind"), [
    ({"exp": NOW - 11}, "expired"),
    ({"iat": NOW + 60}, "claim"),
    ({"nbf": NOW + 60}, "claim"),
    ({"iss": "elsewhere"}, "claim"),
    ({"aud": ["top!cell1"]}, "audience"),
    ({"aud": [1]}, "claim"),
    ({"exp": True}, "claim"),
    ({"exp": "tomorrow"}, "claim"),
])
def test_claims_refused(claims, kind):
    assert kind_of(make(claims)) == kind


def test_missing_claim():
    token = jwt.encode({"iss": "top", "aud": ["top"], "iat": NOW, "exp": NOW + 60, "jti": "j"}, KEY,
                       algorithm="EdDSA", headers={"kid": "k"})
    with pytest.raises(jws.JwsError, match="lacks the 'sub' claim"):
        check(token)


def test_headers_refused():
    assert kind_of(make(headers={"crit": ["exp"]})) == "malformed"
    none = f"{b64({'alg': 'none', 'kid': 'k'})}.{b64({'sub': 'u'})}."
    assert kind_of(none) == "algorithm"
    hs = jwt.encode({"sub": "u"}, "secret-long-enough-for-hmac-sha256!", algorithm="HS256")
    assert kind_of(hs) == "algorithm"
    nokid = jwt.encode({"sub": "u"}, KEY, algorithm="EdDSA")
    assert kind_of(nokid) == "malformed"


@pytest.mark.parametrize("mangle", [
    lambda t: t + ".x",
    lambda t: t.replace(".", "!", 1),
    lambda t: t[: t.rindex(".")] + ".",
    lambda t: t[:-8],
    lambda t: "é" + t,
    lambda t: f"{b64([1, 2])}.{t.split('.', 1)[1]}",
    lambda t: f"{t.split('.')[0]}.{b64(b'not json')}.{t.split('.')[2]}",
])
def test_malformed_or_forged(mangle):
    assert kind_of(mangle(make())) in ("malformed", "signature")


def test_signature_over_another_payload_is_refused():
    header, _, signature = make().split(".")
    forged = f"{header}.{b64({'iss': 'top', 'aud': ['top'], 'sub': 'admin', 'iat': NOW, 'exp': NOW + 60, 'jti': 'j'})}.{signature}"  # noqa: E501
    assert kind_of(forged) == "signature"
    other = Ed25519PrivateKey.generate()
    assert kind_of(jwt.encode({"sub": "u"}, other, algorithm="EdDSA", headers={"kid": "k"})) == "signature"


def test_real_clock_default():
    parsed = jws.parse(make({"iat": time.time(), "exp": time.time() + 60}))
    jws.check_claims(parsed.claims, issuer="top", audiences=["top"], required=(), leeway=0)
