"""`cloudctl image prestage` on the embedded cloud: every simulated host of cell1 ends up holding the
image bit for bit, and most copies came from other hosts, not from the cell's image endpoint."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest
import requests

from tests.integration.conftest import CLOUDCTL
from tests.integration.test_cell_identity import CELL1, cell_token, endpoints

pytestmark = pytest.mark.integration


def cloudctl(cloud, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([CLOUDCTL, *args], env=cloud.env("admin"), capture_output=True, text=True,
                          timeout=300)


def endpoint_reads(cloud) -> int:
    stats = requests.get(f"{endpoints(cloud, CELL1)['images']}/v2/cache/stats", timeout=30,
                         headers={"X-Auth-Token": cell_token(cloud)})
    assert stats.status_code == 200, stats.text
    counters = stats.json()["cache"]
    return int(counters["hits"]) + int(counters["misses"])


def test_prestage_reaches_every_host_of_the_cell_mostly_from_peers(embedded_cloud, tmp_path):
    data = os.urandom(4 * 2**20 + 99)
    path = tmp_path / "disk.raw"
    path.write_bytes(data)
    created = cloudctl(embedded_cloud, "image", "create", "prestaged", "--file", str(path),
                       "--disk-format", "raw", "-f", "json")
    assert created.returncode == 0, created.stderr
    image_id = json.loads(created.stdout)["id"]
    before = endpoint_reads(embedded_cloud)

    done = cloudctl(embedded_cloud, "image", "prestage", "prestaged", "--cell", "cell1", "-f", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert (report["status"], report["cell"], report["hosts_failed"]) == ("done", "top!cell1", 0)
    assert report["hosts_done"] == report["hosts_total"] >= 4
    assert report["from_peers"] >= 1 and report["depth"] >= 2
    assert "done, 0 failed" in done.stderr  # the progress shown while waiting

    # The cell's image endpoint served fewer copies than there are hosts: peers served the rest.
    assert endpoint_reads(embedded_cloud) - before < report["hosts_total"]
    hosts = sorted((embedded_cloud.state_dir / "cell1" / "hosts").iterdir())
    assert len(hosts) == report["hosts_total"]
    for host in hosts:
        held = (host / "images" / image_id).read_bytes()
        assert hashlib.sha512(held).hexdigest() == hashlib.sha512(data).hexdigest(), host.name

    shown = cloudctl(embedded_cloud, "image", "prestage-show", report["id"], "-f", "json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["hosts_done"] == report["hosts_total"]
    again = cloudctl(embedded_cloud, "image", "prestage", image_id, "--cell", "top!cell1", "-f", "json")
    assert again.returncode == 0 and json.loads(again.stdout)["hosts_cached"] == report["hosts_total"]
