from __future__ import annotations

import pytest

from identity import passwords


def test_hash_round_trip_and_salt():
    first = passwords.hash_password("s3cret", cost=10)
    second = passwords.hash_password("s3cret", cost=10)
    assert first.startswith("scrypt$10$8$1$")
    assert first != second  # random salt
    assert passwords.verify_password("s3cret", first)
    assert not passwords.verify_password("s3cret!", first)
    assert "s3cret" not in first


@pytest.mark.parametrize("encoded", [None, "", "plain", "scrypt$10$8$1$abc", "bcrypt$10$8$1$AA$AA",
                                     "scrypt$40$8$1$AAAA$AAAA", "scrypt$x$8$1$AAAA$AAAA"])
def test_malformed_hashes_never_match(encoded):
    assert not passwords.verify_password("anything", encoded)


def test_cost_is_bounded_and_rehash_detected():
    with pytest.raises(ValueError):
        passwords.hash_password("x", cost=9)
    encoded = passwords.hash_password("x", cost=10)
    assert not passwords.needs_rehash(encoded, 10)
    assert passwords.needs_rehash(encoded, 11)
    assert passwords.needs_rehash(None, 10)
