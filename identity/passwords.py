"""Password hashing with scrypt: random salt, self-describing hash strings, constant-time checks.

A hash reads ``scrypt$<log2 N>$<r>$<p>$<salt>$<digest>`` (salt and digest in
unpadded base64url), so the cost can be raised later and old hashes still
verify with the parameters they were made with.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import hmac
import os
import secrets

SCHEME = "scrypt"
BLOCK_SIZE = 8
PARALLELISM = 1
SALT_BYTES = 16
DIGEST_BYTES = 32
MIN_COST, MAX_COST = 10, 20


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# Hashes run on a few dedicated threads, one per core: each takes 128 * r * N bytes (16 MiB at
# cost 14), more at once would only queue on the CPU, and memory allocated by every server
# thread would stay in each thread's malloc arena (hundreds of MiB under a login storm).
_HASHING = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, os.cpu_count() or 1),
                                                 thread_name_prefix="scrypt")


def _scrypt(password: str, salt: bytes, cost: int, r: int, p: int, length: int) -> bytes:
    n = 1 << cost
    # OpenSSL refuses anything above its default 32 MiB unless told how much memory to allow.
    maxmem = 128 * r * (n + p + 2) + 1024 * 1024
    return _HASHING.submit(hashlib.scrypt, password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                           maxmem=maxmem, dklen=length).result()


def hash_password(password: str, cost: int = 14) -> str:
    """Return a self-describing scrypt hash of ``password``; raises ValueError on a bad cost."""
    if not MIN_COST <= cost <= MAX_COST:
        raise ValueError(f"password hash cost must be between {MIN_COST} and {MAX_COST}")
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password, salt, cost, BLOCK_SIZE, PARALLELISM, DIGEST_BYTES)
    return f"{SCHEME}${cost}${BLOCK_SIZE}${PARALLELISM}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str | None) -> bool:
    """True if ``password`` matches ``encoded``; a missing or malformed hash never matches."""
    if not encoded:
        return False
    try:
        scheme, cost_s, r_s, p_s, salt_s, digest_s = encoded.split("$")
        cost, r, p = int(cost_s), int(r_s), int(p_s)
        salt, expected = _unb64(salt_s), _unb64(digest_s)
    except ValueError:
        return False
    if scheme != SCHEME or not MIN_COST <= cost <= MAX_COST or not 1 <= r <= 32 or not 1 <= p <= 16:
        return False
    actual = _scrypt(password, salt, cost, r, p, len(expected))
    return hmac.compare_digest(actual, expected)


def needs_rehash(encoded: str | None, cost: int) -> bool:
    """True if ``encoded`` was made with other parameters than those now configured."""
    if not encoded:
        return True
    parts = encoded.split("$")
    return len(parts) != 6 or parts[0] != SCHEME or parts[1:4] != [str(cost), str(BLOCK_SIZE),
                                                                  str(PARALLELISM)]


def dummy_verify(password: str, cost: int) -> None:
    """Spend the time of one verification, so an unknown user answers as slowly as a known one."""
    _scrypt(password, b"\0" * SALT_BYTES, cost, BLOCK_SIZE, PARALLELISM, DIGEST_BYTES)
