"""The real `openstack` CLI driving the identity service of the embedded cloud:
token issue, a project tree, role assignments, application credentials used to log in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
import yaml

pytestmark = pytest.mark.integration

OPENSTACK = os.path.join(os.path.dirname(sys.executable), "openstack")


def osc(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([OPENSTACK, *args], env=env, capture_output=True, text=True, timeout=240)
    if check and result.returncode != 0:
        raise AssertionError(f"openstack {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def as_json(env: dict[str, str], *args: str) -> dict | list:
    return json.loads(osc(env, *args, "-f", "json").stdout)


def test_token_project_tree_roles_and_application_credentials(embedded_cloud, tmp_path):
    admin = embedded_cloud.env("admin")
    suffix = uuid.uuid4().hex[:6]
    token = as_json(admin, "token", "issue")
    assert token["id"] and token["project_id"] and token["user_id"]

    # A project tree three deep, built with --parent.
    root = as_json(admin, "project", "create", f"physics-{suffix}")
    child = as_json(admin, "project", "create", "--parent", root["id"], f"cms-{suffix}")
    leaf = as_json(admin, "project", "create", "--parent", child["id"], f"cms-ops-{suffix}")
    assert child["parent_id"] == root["id"] and leaf["parent_id"] == child["id"]

    # A user with the member role on the leaf, and an inherited reader role from the root.
    password = uuid.uuid4().hex
    user = as_json(admin, "user", "create", "--password", password, f"alice-{suffix}")
    osc(admin, "role", "add", "--user", user["id"], "--project", leaf["id"], "member")
    osc(admin, "role", "add", "--user", user["id"], "--project", root["id"], "--inherited", "reader")
    assignments = as_json(admin, "role", "assignment", "list", "--user", user["id"], "--names")
    assert {(a["Role"], a["Inherited"]) for a in assignments} == {("member", False), ("reader", True)}

    # alice logs in to the leaf project with her password.
    base = embedded_cloud.cloud("admin")["auth"]["auth_url"]
    alice = os.environ | {"OS_AUTH_URL": base, "OS_USERNAME": user["name"], "OS_PASSWORD": password,
                          "OS_PROJECT_ID": leaf["id"], "OS_USER_DOMAIN_ID": "default",
                          "OS_IDENTITY_API_VERSION": "3"}
    alice.pop("OS_CLOUD", None)
    alice.pop("OS_CLIENT_CONFIG_FILE", None)
    alice_token = as_json(alice, "token", "issue")
    assert alice_token["project_id"] == leaf["id"]

    # She makes an application credential and a script logs in with it.
    cred = as_json(alice, "application", "credential", "create", f"ci-{suffix}")
    assert cred["Secret"] and cred["Project ID"] == leaf["id"]
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(yaml.safe_dump({"clouds": {"ci": {
        "auth_type": "v3applicationcredential",
        "auth": {"auth_url": base, "application_credential_id": cred["ID"],
                 "application_credential_secret": cred["Secret"]},
        "identity_api_version": 3}}}))
    script = os.environ | {"OS_CLIENT_CONFIG_FILE": str(clouds), "OS_CLOUD": "ci"}
    by_cred = as_json(script, "token", "issue")
    assert by_cred["project_id"] == leaf["id"] and by_cred["user_id"] == user["id"]
    listed = as_json(alice, "application", "credential", "list")
    assert [c["ID"] for c in listed] == [cred["ID"]]

    # Deleting the credential stops it working.
    osc(alice, "application", "credential", "delete", cred["ID"])
    assert osc(script, "token", "issue", check=False).returncode != 0

    # Removing her roles takes the project away from alice: the inherited one still counts...
    osc(admin, "role", "remove", "--user", user["id"], "--project", leaf["id"], "member")
    assert as_json(alice, "token", "issue")["project_id"] == leaf["id"]
    # ...until it goes too.
    osc(admin, "role", "remove", "--user", user["id"], "--project", root["id"], "--inherited", "reader")
    refused = osc(alice, "token", "issue", check=False)
    assert refused.returncode != 0
