"""Key rotation without downtime: tokens verify at every service while their key is published,
and stop verifying once it is retired; services learn new keys from the JWKS by themselves."""

from __future__ import annotations

import json

import requests

from cells.exception import Unauthorized
from identity import cmd
from identity.keys import KeyRepository
from identity.middleware import TokenVerifier
from tests.unit.identity.conftest import issue


def rotate(conf, capsys, max_keys: int) -> dict[str, object]:
    """Rotate as an operator does: ``cloud-identity --config CELL.yaml rotate-keys``."""
    assert cmd.main(["--config", conf.source, "rotate-keys", "--max-keys", str(max_keys)]) == 0
    return json.loads(capsys.readouterr().out)


def verifies(verifier: TokenVerifier, token: str) -> bool:
    try:
        verifier.verify(token)
        return True
    except Unauthorized:
        return False


def test_three_rotations_across_services(conf, client, served, capsys):
    # Two services verifying offline from the published JWKS, as the API and image daemons do.
    services = [TokenVerifier(conf, service="api"), TokenVerifier(conf, service="images")]
    for verifier in services:
        for source in verifier._sources.values():
            source.min_refresh_gap = 0.0  # refresh on an unknown kid at once, for the test
    repo = KeyRepository(conf.key_repository)
    tokens = [issue(client).headers["X-Subject-Token"]]
    for verifier in services:
        assert verifies(verifier, tokens[0])
    kids = [repo.signing_key()[0]]
    for rotation in range(1, 4):
        result = rotate(conf, capsys, max_keys=4)  # primary, staged and two secondaries
        kids.append(str(result["primary"]))
        published = {key["kid"] for key in requests.get(served + "/v3/OS-JWKS", timeout=5).json()["keys"]}
        assert published == set(result["keys"])  # type: ignore[arg-type]
        tokens.append(issue(client).headers["X-Subject-Token"])
        for verifier in services:
            for source in verifier._sources.values():
                source.refresh()
            # The newest token verifies at once; the first one while its key is still published.
            assert verifies(verifier, tokens[-1])
            assert verifies(verifier, tokens[0]) == (kids[0] in published), rotation
    # After three rotations the first key is retired: its token fails everywhere; later ones pass.
    assert kids[0] not in repo.public_keys()
    for verifier in services:
        assert not verifies(verifier, tokens[0])
        assert all(verifies(verifier, token) for token in tokens[1:])


def test_first_token_of_a_new_primary_is_known_ahead(conf, client, served, capsys):
    """The staged key is published one rotation ahead: a verifier that refreshed after the
    previous rotation already knows the key that signs after the next one."""
    rotate(conf, capsys, max_keys=3)
    verifier = TokenVerifier(conf, service="api")
    verifier.verify(issue(client).headers["X-Subject-Token"])  # fetches the JWKS once
    rotate(conf, capsys, max_keys=3)
    for source in verifier._sources.values():
        source.min_refresh_gap = 3600.0  # no further fetch allowed
    verifier.verify(issue(client).headers["X-Subject-Token"])


def test_rotate_refuses_too_few_keys(conf, capsys):
    assert cmd.main(["--config", conf.source, "rotate-keys", "--max-keys", "2"]) == 2
    assert "at least 3" in capsys.readouterr().err
