from __future__ import annotations

import os
import stat

from identity.key_sources import parse_jwks
from identity.keys import KeyRepository, thumbprint


def test_created_on_first_use_with_private_permissions(tmp_path):
    repo = KeyRepository(str(tmp_path / "keys"))
    kid, key = repo.signing_key()
    assert kid == thumbprint(key.public_key())
    key_file = tmp_path / "keys" / f"{kid}.pem"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "keys").st_mode) == 0o700
    assert (tmp_path / "keys" / "primary").read_text() == kid
    # A second repository object (another process) sees the same key.
    assert KeyRepository(str(tmp_path / "keys")).signing_key()[0] == kid


def test_jwks_lists_public_keys_only(tmp_path):
    repo = KeyRepository(str(tmp_path / "keys"))
    kid = repo.ensure()
    jwks = repo.public_jwks()
    assert jwks == {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": jwks["keys"][0]["x"], "kid": kid,
                              "alg": "EdDSA", "use": "sig"}]}
    assert "d" not in jwks["keys"][0]
    assert set(parse_jwks(jwks)) == {kid}


def test_rotation_stages_promotes_and_purges(tmp_path):
    repo = KeyRepository(str(tmp_path / "keys"))
    first = repo.ensure()
    second = repo.rotate()
    assert second != first
    states = repo.states()
    assert states[first] == "secondary" and states[second] == "primary"
    staged = [k for k, s in states.items() if s == "staged"]
    assert len(staged) == 1
    third = repo.rotate()
    assert third == staged[0]  # the staged key, already published, becomes primary
    assert repo.signing_key()[0] == third
    repo.rotate()
    repo.rotate()
    assert len(repo.states()) == 3
    assert first not in repo.public_keys()
