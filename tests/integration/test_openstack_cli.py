"""The real `openstack` CLI (python-openstackclient) against the embedded cloud."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

OPENSTACK = os.path.join(os.path.dirname(sys.executable), "openstack")


def osc(cloud, *args: str, user: str = "demo", check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([OPENSTACK, *args], env=cloud.env(user), capture_output=True,
                            text=True, timeout=240)
    if check and result.returncode != 0:
        raise AssertionError(f"openstack {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def test_server_lifecycle_with_openstack_cli(embedded_cloud):
    created = json.loads(osc(embedded_cloud, "server", "create", "--flavor", "m1.tiny",
                             "--image", "tiny", "--wait", "-f", "json", "osc-vm").stdout)
    assert created["status"] == "ACTIVE"
    listed = json.loads(osc(embedded_cloud, "server", "list", "-f", "json").stdout)
    assert [s["Status"] for s in listed if s["Name"] == "osc-vm"] == ["ACTIVE"]
    osc(embedded_cloud, "server", "stop", "osc-vm")
    for _ in range(300):
        shown = json.loads(osc(embedded_cloud, "server", "show", "-f", "json", "osc-vm").stdout)
        if shown["status"] == "SHUTOFF":
            break
    assert shown["status"] == "SHUTOFF"
    osc(embedded_cloud, "server", "delete", "--wait", "osc-vm")
    listed = json.loads(osc(embedded_cloud, "server", "list", "-f", "json").stdout)
    assert "osc-vm" not in [s["Name"] for s in listed]


def test_flavor_and_image_lists(embedded_cloud):
    flavors = json.loads(osc(embedded_cloud, "flavor", "list", "-f", "json").stdout)
    assert "m1.tiny" in [f["Name"] for f in flavors]
    images = json.loads(osc(embedded_cloud, "image", "list", "-f", "json").stdout)
    assert "tiny" in [i["Name"] for i in images]


def test_demo_cannot_create_flavor(embedded_cloud):
    result = osc(embedded_cloud, "flavor", "create", "--ram", "256", "--vcpus", "1", "nope",
                 check=False)
    assert result.returncode != 0
    assert "403" in result.stderr or "forbidden" in result.stderr.lower()
