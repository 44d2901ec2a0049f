"""Server snapshots end to end on the embedded cloud: `openstack server image create --wait`, then a boot
from the snapshot. The compute cells' agents upload through their cell's image cache to the master."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.integration.test_openstack_cli import osc

pytestmark = pytest.mark.integration

CLOUDCTL = os.path.join(os.path.dirname(sys.executable), "cloudctl")


def _json(cloud, *args: str) -> dict:
    return json.loads(osc(cloud, *args, "-f", "json").stdout)


def test_openstack_snapshot_then_boot_from_it(embedded_cloud):
    server = _json(embedded_cloud, "server", "create", "--flavor", "m1.tiny", "--image", "tiny", "--wait",
                   "snap-src")
    assert server["status"] == "ACTIVE"
    image = _json(embedded_cloud, "server", "image", "create", "--name", "snap-1", "--property",
                  "purpose=integration", "--wait", "snap-src")
    assert image["status"] == "active"
    shown = _json(embedded_cloud, "image", "show", "snap-1")
    props = shown["properties"]
    assert (props["image_type"], props["instance_uuid"], props["purpose"]) == (
        "snapshot", server["id"], "integration")
    assert props["instance_cell"].startswith("top!") and shown["visibility"] == "private"
    project = _json(embedded_cloud, "server", "show", "snap-src")["project_id"]
    assert shown["owner"] == project
    # A simulated host's disk is its base image: the snapshot holds the base image's data.
    base = _json(embedded_cloud, "image", "show", "tiny")
    assert (shown["checksum"], shown["size"], shown["disk_format"]) == (
        base["checksum"], base["size"], base["disk_format"])
    assert _json(embedded_cloud, "server", "show", "snap-src")["OS-EXT-STS:task_state"] is None

    copy = _json(embedded_cloud, "server", "create", "--flavor", "m1.tiny", "--image", "snap-1", "--wait",
                 "snap-copy")
    assert copy["status"] == "ACTIVE"
    assert shown["id"] in _json(embedded_cloud, "server", "show", "snap-copy")["image"]  # "name (id)"

    osc(embedded_cloud, "server", "delete", "--wait", "snap-src", "snap-copy")
    osc(embedded_cloud, "image", "delete", "snap-1")


def test_cloudctl_snapshot_of_a_stopped_server(embedded_cloud):
    def cloudctl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([CLOUDCTL, *args], env=embedded_cloud.env("demo"), capture_output=True,
                              text=True, timeout=240)

    created = cloudctl("server", "create", "ctl-snap-src", "--flavor", "m1.tiny", "--image", "tiny", "--wait")
    assert created.returncode == 0, created.stderr
    stopped = cloudctl("server", "stop", "ctl-snap-src", "--wait")
    assert stopped.returncode == 0, stopped.stderr
    result = cloudctl("server", "image", "create", "ctl-snap-src", "--name", "ctl-snap", "--property",
                      "k=v", "--wait", "-f", "json")
    assert result.returncode == 0, result.stderr
    image = json.loads(result.stdout)
    assert image["status"] == "active" and image["properties"]["k"] == "v"
    assert image["properties"]["image_type"] == "snapshot"
    server = json.loads(cloudctl("server", "show", "ctl-snap-src", "-f", "json").stdout)
    assert (server["status"], server["task_state"]) == ("SHUTOFF", None)
    assert cloudctl("server", "delete", "ctl-snap-src", "--wait").returncode == 0
    osc(embedded_cloud, "image", "delete", "ctl-snap")
