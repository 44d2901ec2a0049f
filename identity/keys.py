"""The key repository: Ed25519 signing keys on disk, published as a JWKS document.

A directory holds one private key per file, ``<kid>.pem`` (PKCS#8, mode
0600), and marker files naming the ``primary`` key (signs new tokens) and
optionally the ``staged`` key (published, not yet signing). Every other key is
a *secondary*: it signs nothing but stays published so tokens it signed keep
verifying until they expire. Rotation, as with Fernet keys, promotes the
staged key to primary, stages a fresh one and purges the oldest secondaries;
because a staged key is published one rotation ahead, every verifier already
knows a key before the first token signed with it appears.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from cells.exception import ConfigError

PRIMARY = "primary"
STAGED = "staged"
_SUFFIX = ".pem"
_LOCK = ".lock"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def thumbprint(key: Ed25519PublicKey) -> str:
    """Return the RFC 7638 JWK thumbprint of ``key``, used as its kid."""
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": _b64(raw_public(key))},
                           separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode("ascii")).digest())


def jwk(kid: str, key: Ed25519PublicKey) -> dict[str, str]:
    """Return the public JWK of one Ed25519 key."""
    return {"kty": "OKP", "crv": "Ed25519", "x": _b64(raw_public(key)), "kid": kid,
            "alg": "EdDSA", "use": "sig"}


@dataclass(frozen=True)
class _Snapshot:
    stamp: int
    primary: str | None
    staged: str | None
    private: dict[str, Ed25519PrivateKey]
    public: dict[str, Ed25519PublicKey]
    order: tuple[str, ...]  # kids, oldest first


class KeyRepository:
    """Ed25519 keys in one directory; reloads by itself when the directory changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None

    # --- reading -------------------------------------------------------------

    def _stamp(self) -> int:
        try:
            return os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return -1

    def _current(self) -> _Snapshot:
        stamp = self._stamp()
        snapshot = self._snapshot
        if snapshot is not None and snapshot.stamp == stamp:
            return snapshot
        with self._lock:
            snapshot = self._read(stamp)
            self._snapshot = snapshot
            return snapshot

    def _marker(self, name: str) -> str | None:
        try:
            with open(os.path.join(self.path, name)) as f:
                return f.read().strip() or None
        except FileNotFoundError:
            return None

    def _read(self, stamp: int) -> _Snapshot:
        if stamp < 0:
            return _Snapshot(stamp, None, None, {}, {}, ())
        private: dict[str, Ed25519PrivateKey] = {}
        mtimes: dict[str, int] = {}
        for entry in os.scandir(self.path):
            if not entry.name.endswith(_SUFFIX) or not entry.is_file():
                continue
            kid = entry.name[: -len(_SUFFIX)]
            with open(entry.path, "rb") as f:
                key = serialization.load_pem_private_key(f.read(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ConfigError(f"key repository {self.path}: {entry.name} is not an Ed25519 key")
            private[kid] = key
            mtimes[kid] = entry.stat().st_mtime_ns
        primary, staged = self._marker(PRIMARY), self._marker(STAGED)
        order = tuple(sorted(private, key=lambda k: (mtimes[k], k)))
        return _Snapshot(stamp, primary if primary in private else None,
                         staged if staged in private else None, private,
                         {kid: key.public_key() for kid, key in private.items()}, order)

    def signing_key(self) -> tuple[str, Ed25519PrivateKey]:
        """Return the primary key and its kid, creating the repository on first use."""
        snapshot = self._current()
        if snapshot.primary is None:
            self.ensure()
            snapshot = self._current()
        if snapshot.primary is None:
            raise ConfigError(f"key repository {self.path}: no primary key")
        return snapshot.primary, snapshot.private[snapshot.primary]

    def public_keys(self) -> dict[str, Ed25519PublicKey]:
        """Return every published public key (primary, staged, secondary) by kid."""
        return dict(self._current().public)

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        return self._current().public.get(kid)

    def public_jwks(self) -> dict[str, Any]:
        """Return the JWKS document of every published key, primary first."""
        snapshot = self._current()
        kids = sorted(snapshot.order, key=lambda k: k != snapshot.primary)
        return {"keys": [jwk(kid, snapshot.public[kid]) for kid in kids]}

    def states(self) -> dict[str, str]:
        """Return each kid's state: primary, staged or secondary."""
        snapshot = self._current()
        return {kid: PRIMARY if kid == snapshot.primary else STAGED if kid == snapshot.staged
                else "secondary" for kid in snapshot.order}

    # --- writing -------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise writers across processes sharing the directory."""
        try:
            os.makedirs(self.path, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"key repository {self.path}: cannot create ({exc.strerror})") from exc
        fd = os.open(os.path.join(self.path, _LOCK), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _write_atomic(self, name: str, data: bytes) -> None:
        final = os.path.join(self.path, name)
        tmp = f"{final}.tmp.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)

    def _new_key(self) -> str:
        key = Ed25519PrivateKey.generate()
        kid = thumbprint(key.public_key())
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        self._write_atomic(kid + _SUFFIX, pem)
        return kid

    def ensure(self) -> str:
        """Create the directory and a primary key if there is none; returns the primary kid."""
        with self._locked():
            snapshot = self._read(self._stamp())
            if snapshot.primary is not None:
                return snapshot.primary
            kid = snapshot.staged or self._new_key()
            self._write_atomic(PRIMARY, kid.encode("ascii"))
            if snapshot.staged:
                os.unlink(os.path.join(self.path, STAGED))
        self._snapshot = None
        return kid

    def rotate(self, max_keys: int = 3) -> str:
        """Promote the staged key (or a new one), stage a fresh key, keep at most ``max_keys``.

        Returns the new primary kid. Run it less often than once per token
        lifetime, so no secondary still needed to verify a live token is purged.
        """
        if max_keys < 3:
            raise ValueError("max_keys must be at least 3: primary, staged and one secondary")
        with self._locked():
            snapshot = self._read(self._stamp())
            primary = snapshot.staged or self._new_key()
            self._write_atomic(PRIMARY, primary.encode("ascii"))
            staged = self._new_key()
            self._write_atomic(STAGED, staged.encode("ascii"))
            secondaries = [k for k in snapshot.order if k not in (primary, staged)]
            for kid in secondaries[: max(0, len(secondaries) - (max_keys - 2))]:
                os.unlink(os.path.join(self.path, kid + _SUFFIX))
        self._snapshot = None
        return primary


class RepositoryKeySource:
    """A token verifier's key source reading the local repository (the identity daemon itself)."""

    def __init__(self, repository: KeyRepository) -> None:
        self.repository = repository

    def get(self, kid: str) -> Ed25519PublicKey | None:
        return self.repository.public_key(kid)

    def refresh(self) -> None:
        # The repository reloads by itself whenever its directory changes.
        return None
