"""cloudctl reads os-cells and os-hypervisors exactly as the Compute API's views write them.

The documents come from api/views (the code the API serves them with), go
over HTTP through the fake cloud, and are read by the real commands.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from api.views import cells as cell_views
from api.views import hypervisors as hypervisor_views
from cloudctl import shell

WHEN = dt.datetime(2030, 1, 1, 12, 0, 0)


def report(path, hosts, vcpus_free, seconds):
    return {"cell_path": path, "vcpus_free": vcpus_free, "ram_mb_free": 1024 * vcpus_free,
            "disk_gb_free": 10 * vcpus_free, "vcpus_total": 64, "ram_mb_total": 65536, "disk_gb_total": 1000,
            "hosts_up": sum(h["state"] == "up" for h in hosts), "hosts_total": len(hosts),
            "hs06_free": 1.5 * vcpus_free, "largest_free_ram_mb": 512 * vcpus_free,
            "largest_free_vcpus": vcpus_free, "reported_at": WHEN + dt.timedelta(seconds=seconds),
            "capabilities": {"hosts": hosts}}


def host(name, state="up"):
    return {"host": name, "state": state, "status": "enabled", "hypervisor_type": "QEMU", "cpu_model": "x",
            "vcpus": 16, "vcpus_used": 2, "memory_mb": 32768, "memory_mb_used": 2048, "local_gb": 500,
            "local_gb_used": 20, "running_vms": 1, "hs06_per_core": 10.0}


REPORTS = [report("top!cell1", [host("h1"), host("h2", "down")], 8, 10),
           report("top!eu!cell3", [host("h1")], 4, 5),
           report("top!eu!cell4", [host("node@7")], 2, 20)]


def run(capsys, *argv):
    code = shell.main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.fixture
def served(fake_cloud, clouds_yaml):
    """The fake cloud serving the API views' documents, through JSON as on the wire."""
    document = cell_views.cell_tree("top", "api", ["top!cell1", "top!cell2", "top!eu"], REPORTS)
    fake_cloud.cells = json.loads(json.dumps(document))["cells"]
    details = [hypervisor_views.detail(h) for h in hypervisor_views.hosts(REPORTS)]
    fake_cloud.hypervisors = json.loads(json.dumps(details))
    return fake_cloud


def test_cell_list_shows_the_api_tree(capsys, served):
    rows = json.loads(run(capsys, "cell", "list", "-f", "json"))
    assert [(r["path"], r["depth"], r["type"], r["parent"]) for r in rows] == [
        ("top", 0, "api", None), ("top!cell1", 1, "compute", "top"), ("top!cell2", 1, "unknown", "top"),
        ("top!eu", 1, "site", "top"), ("top!eu!cell3", 2, "compute", "top!eu"),
        ("top!eu!cell4", 2, "compute", "top!eu")]
    by_path = {r["path"]: r for r in rows}
    assert by_path["top"]["vcpus_free"] == 14 and by_path["top!eu"]["hosts_total"] == 2
    assert by_path["top!eu"]["largest_free_vcpus"] == 4
    assert by_path["top!eu"]["reported_at"] == "2030-01-01T12:00:05Z"  # the oldest below
    table = run(capsys, "cell", "list").splitlines()
    assert table[6].startswith("    cell3 ") and "1/1" in table[6]


def test_host_list_uses_cell_path(capsys, served):
    rows = json.loads(run(capsys, "host", "list", "-f", "json"))
    assert [(r["cell"], r["host"], r["state"]) for r in rows] == [
        ("top!cell1", "h1", "up"), ("top!cell1", "h2", "down"), ("top!eu!cell3", "h1", "up"),
        ("top!eu!cell4", "node@7", "up")]
    below = json.loads(run(capsys, "host", "list", "--cell", "top!eu", "-f", "json"))
    assert [r["id"] for r in below] == ["top!eu!cell3@h1", "top!eu!cell4@node@7"]
