"""Where a token verifier finds an issuer's public keys: a fixed set, or a JWKS URL fetched and cached."""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
from typing import Any, Protocol

import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

LOG = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
JWKS_PATH = "/v3/OS-JWKS"


class KeySource(Protocol):
    """Where a verifier finds an issuer's public keys by kid."""

    def get(self, kid: str) -> Ed25519PublicKey | None: ...

    def refresh(self) -> None: ...


class StaticKeySource:
    """A fixed set of public keys (tests, and verifiers living beside the key repository)."""

    def __init__(self, keys: dict[str, Ed25519PublicKey]) -> None:
        self.keys = dict(keys)

    def get(self, kid: str) -> Ed25519PublicKey | None:
        return self.keys.get(kid)

    def refresh(self) -> None:
        return None


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_jwks(document: Any) -> dict[str, Ed25519PublicKey]:
    """Return the Ed25519 signing keys of a JWKS document by kid; other entries are skipped."""
    keys: dict[str, Ed25519PublicKey] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("kty") != "OKP" or entry.get("crv") != "Ed25519":
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", ALGORITHM) != ALGORITHM:
            continue
        kid, x = entry.get("kid"), entry.get("x")
        if not isinstance(kid, str) or not isinstance(x, str):
            continue
        try:
            keys[kid] = Ed25519PublicKey.from_public_bytes(_unb64(x))
        except (ValueError, binascii.Error):
            LOG.warning("skipping malformed JWK %r", kid)
    return keys


class JwksKeySource:
    """Public keys fetched over HTTP from JWKS URLs, cached and refreshed.

    Keys are re-fetched every ``refresh_interval`` seconds (lazily, by the
    first caller after that) and on demand for an unknown kid, but at most
    once per ``min_refresh_gap`` seconds so forged kids cannot flood the
    identity service. A URL that fails keeps the keys it last gave.
    """

    def __init__(self, urls: list[str], refresh_interval: float = 60.0, *,
                 min_refresh_gap: float = 5.0, timeout: float = 5.0,
                 session: requests.Session | None = None) -> None:
        self.urls = list(urls)
        self.refresh_interval = refresh_interval
        self.min_refresh_gap = min_refresh_gap
        self.timeout = timeout
        self._session = session or requests.Session()
        self._by_url: dict[str, dict[str, Ed25519PublicKey]] = {}
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    def get(self, kid: str) -> Ed25519PublicKey | None:
        if time.monotonic() - self._fetched_at >= self.refresh_interval:
            self._fetch(wait=not self._keys)
        return self._keys.get(kid)

    def refresh(self) -> None:
        """Re-fetch now unless the last fetch was less than ``min_refresh_gap`` seconds ago."""
        if time.monotonic() - self._fetched_at >= self.min_refresh_gap:
            self._fetch(wait=True)

    def _fetch(self, wait: bool) -> None:
        # One fetch at a time; callers that know their key do not queue behind it.
        if not self._lock.acquire(blocking=wait):
            return
        try:
            started = time.monotonic()
            if started - self._fetched_at < min(self.min_refresh_gap, self.refresh_interval):
                return  # another thread just fetched
            for url in self.urls:
                try:
                    response = self._session.get(url, timeout=self.timeout)
                    response.raise_for_status()
                    self._by_url[url] = parse_jwks(response.json())
                except (requests.RequestException, ValueError) as exc:
                    LOG.warning("cannot fetch signing keys from %s: %s", url, type(exc).__name__)
            merged: dict[str, Ed25519PublicKey] = {}
            for url in self.urls:
                merged.update(self._by_url.get(url, {}))
            self._keys = merged
            self._fetched_at = started
        finally:
            self._lock.release()
