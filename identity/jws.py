"""Checking a compact-serialised JWS signed with Ed25519, and the claims of the JWT inside (RFC 7515,
7519, 8037), in one pass.

Tokens are made with PyJWT (identity.tokens). Verifying one is on every
first request of every service, so it is done here in a single pass: each
segment is checked against the base64url alphabet by a compiled pattern,
decoded once, and the payload parsed once; PyJWT's decode does that work
several times over in Python. The checks are those PyJWT applies with our
options: algorithm, signature, required claims, expiry, not-before and
issued-at with leeway, issuer and audience.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ALGORITHM = "EdDSA"
_SEGMENT = re.compile(r"[A-Za-z0-9_-]*")
_SIGNATURE_BYTES = 64


class JwsError(Exception):
    """Why a token is refused; ``message`` is safe to show (it never quotes the token)."""

    def __init__(self, message: str, kind: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind  # malformed, algorithm, expired, audience, signature, claim, invalid


@dataclass(frozen=True)
class Parsed:
    header: dict[str, Any]
    claims: dict[str, Any]  # not yet verified
    signing_input: bytes
    signature: bytes


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64decode(segment))
    except (ValueError, binascii.Error) as exc:
        raise JwsError(f"The token is malformed: its {what} is not base64url JSON.", "malformed") from exc
    if not isinstance(value, dict):
        raise JwsError(f"The token is malformed: its {what} is not a JSON object.", "malformed")
    return value


def parse(token: str) -> Parsed:
    """Split and decode a token without trusting anything in it; raises JwsError if malformed."""
    parts = token.split(".")
    if len(parts) != 3 or not all(_SEGMENT.fullmatch(p) for p in parts):
        raise JwsError("The token is malformed.", "malformed")
    header = _json_object(parts[0], "header")
    claims = _json_object(parts[1], "payload")
    try:
        signature = _b64decode(parts[2])
    except (ValueError, binascii.Error) as exc:
        raise JwsError("The token is malformed.", "malformed") from exc
    return Parsed(header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def check_header(header: dict[str, Any]) -> str:
    """Return the kid of a header we accept; raises JwsError for any other algorithm or extension."""
    alg = header.get("alg")
    if alg != ALGORITHM:
        raise JwsError(f"The token is signed with algorithm {alg!r}; only {ALGORITHM} is accepted.",
                       "algorithm")
    if "crit" in header:
        raise JwsError("The token header names critical extensions this service does not support.",
                       "malformed")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise JwsError("The token header names no signing key (kid).", "malformed")
    return kid


def verify_signature(parsed: Parsed, key: Ed25519PublicKey) -> None:
    if len(parsed.signature) != _SIGNATURE_BYTES:
        raise JwsError("The token's signature is invalid.", "signature")
    try:
        key.verify(parsed.signature, parsed.signing_input)
    except InvalidSignature as exc:
        raise JwsError("The token's signature is invalid.", "signature") from exc


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise JwsError(f"The token is invalid: claim '{name}' is not a number.", "claim")
    return float(value)


def check_claims(claims: dict[str, Any], *, issuer: str, audiences: Collection[str],
                 required: Collection[str], leeway: float,
                 now: Callable[[], float] = time.time) -> None:
    """Raise JwsError unless the (signature-checked) claims are current and meant for us."""
    for name in required:
        if name not in claims:
            raise JwsError(f"The token lacks the '{name}' claim.", "claim")
    current = now()
    if "exp" in claims and current >= _number(claims, "exp") + leeway:
        raise JwsError("The token has expired.", "expired")
    if "iat" in claims and _number(claims, "iat") > current + leeway:
        raise JwsError("The token is invalid: it was issued in the future.", "claim")
    if "nbf" in claims and _number(claims, "nbf") > current + leeway:
        raise JwsError("The token is not valid yet.", "claim")
    if "iss" in claims and claims["iss"] != issuer:
        raise JwsError("The token is invalid: wrong issuer.", "claim")
    aud = claims.get("aud")
    if aud is not None or "aud" in required:
        listed = [aud] if isinstance(aud, str) else aud
        if not isinstance(listed, list) or not all(isinstance(a, str) for a in listed):
            raise JwsError("The token is invalid: claim 'aud' is malformed.", "claim")
        if not set(listed).intersection(audiences):
            raise JwsError("The token is not meant for this cell (audience).", "audience")
