"""`cloudctl admin identity rotate-keys|jwks` against the real identity app and its key repository."""

from __future__ import annotations

import json

from tests.unit.cloudctl.test_identity_commands import run, run_json

# --- signing keys --------------------------------------------------------------------------

def test_rotate_keys_runs_cloud_identity_and_jwks_shows_the_new_primary(capsys, identity_cloud):
    cloud = identity_cloud
    before = run_json(capsys, "admin", "identity", "jwks")
    assert [k["position"] for k in before] == list(range(1, len(before) + 1))
    assert before[0]["state"] == "primary" and before[0]["alg"] == "EdDSA"
    assert {k["published"] for k in before} == {len(before)}

    for _ in range(3):
        keys = run_json(capsys, "admin", "identity", "rotate-keys", "--config", cloud.config_file)
    assert [k["state"] for k in keys][:2] == ["primary", "staged"]
    assert len(keys) == 3  # the default keeps primary, staged and one secondary
    primary = keys[0]["kid"]

    code, out, err = run(capsys, "admin", "identity", "jwks")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["Endpoint", "#", "Kid", "State", "Algorithm", "Keys"]
    assert primary in lines[2] and "primary" in lines[2] and lines[2].split()[-1] == "3"
    after = run_json(capsys, "admin", "identity", "jwks", "--cell", cloud.config_file)
    assert after[0]["kid"] == primary and after[0]["endpoint"] == "top"
    assert {k["kid"] for k in after} == {k["kid"] for k in keys}


def test_rotate_keys_reports_the_daemons_error(capsys, identity_cloud):
    code, out, err = run(capsys, "admin", "identity", "rotate-keys", "--config", identity_cloud.config_file,
                         "--max-keys", "2")
    assert code == 1 and out == ""
    assert err.startswith("error: cloud-identity: ") and "at least 3" in err and len(err.splitlines()) == 1


def test_jwks_goes_on_past_an_unreachable_endpoint(capsys, identity_cloud):
    dead = "http://127.0.0.1:9"
    code, out, err = run(capsys, "-f", "json", "admin", "identity", "jwks", "--url", dead,
                         "--url", identity_cloud.url + "/v3")
    assert code == 1 and f"error: {dead}: GET {dead}/v3/OS-JWKS failed" in err
    rows = json.loads(out)
    assert rows and {r["url"] for r in rows} == {identity_cloud.url + "/v3/OS-JWKS"}
