"""os-hypervisors and os-cells, served from the compute cells' capacity reports."""

from __future__ import annotations

import datetime as dt
import json

from tests.unit.api.conftest import ADMIN, MEMBER_A, READER_A, add_capacity


def host(name: str, **fields):
    return {"host": name, "state": "up", "status": "enabled", "hypervisor_type": "QEMU",
            "cpu_model": "Broadwell", "vcpus": 32, "vcpus_used": 4, "memory_mb": 131072,
            "memory_mb_used": 8192, "local_gb": 2000, "local_gb_used": 40, "running_vms": 2,
            "hs06_per_core": 10.0, **fields}


def seed(db):
    add_capacity(db, "top!cell1", [host("host-001"), host("host-002", state="down", running_vms=0)],
                 reported_at=dt.datetime(2030, 1, 1, 12, 0, 10))
    add_capacity(db, "top!site!cell3", [host("host-001", status="disabled")],
                 vcpus_free=7, reported_at=dt.datetime(2030, 1, 1, 12, 0, 5))


def test_hypervisors_are_admin_only(client, db):
    seed(db)
    for headers in (MEMBER_A, READER_A):
        for path in ("/v2.1/os-hypervisors", "/v2.1/os-hypervisors/detail", "/v2.1/os-cells",
                     "/v2.1/os-hypervisors/statistics"):
            response = client.get(path, headers=headers)
            assert response.status_code == 403 and "forbidden" in response.json, path


def test_hypervisor_list_and_detail(client, db):
    seed(db)
    listed = client.get("/v2.1/os-hypervisors", headers=ADMIN).json["hypervisors"]
    assert listed == [
        {"id": "top!cell1@host-001", "hypervisor_hostname": "top!cell1@host-001", "state": "up",
         "status": "enabled"},
        {"id": "top!cell1@host-002", "hypervisor_hostname": "top!cell1@host-002", "state": "down",
         "status": "enabled"},
        {"id": "top!site!cell3@host-001", "hypervisor_hostname": "top!site!cell3@host-001",
         "state": "up", "status": "disabled"}]
    detail = client.get("/v2.1/os-hypervisors/detail", headers=ADMIN).json["hypervisors"][0]
    assert {k: detail[k] for k in ("vcpus", "vcpus_used", "memory_mb", "memory_mb_used", "local_gb",
                                   "local_gb_used", "running_vms", "hypervisor_type",
                                   "free_ram_mb", "free_disk_gb")} == {
        "vcpus": 32, "vcpus_used": 4, "memory_mb": 131072, "memory_mb_used": 8192, "local_gb": 2000,
        "local_gb_used": 40, "running_vms": 2, "hypervisor_type": "QEMU", "free_ram_mb": 122880,
        "free_disk_gb": 1960}
    assert json.loads(detail["cpu_info"])["model"] == "Broadwell"
    assert detail["service"]["host"] == "top!cell1@host-001"
    assert detail["cell_path"] == "top!cell1"
    shown = client.get("/v2.1/os-hypervisors/top!site!cell3@host-001", headers=ADMIN)
    assert shown.status_code == 200 and shown.json["hypervisor"]["status"] == "disabled"
    assert shown.json["hypervisor"]["cell_path"] == "top!site!cell3"
    assert client.get("/v2.1/os-hypervisors/top!cell9@x", headers=ADMIN).status_code == 404
    stats = client.get("/v2.1/os-hypervisors/statistics", headers=ADMIN).json["hypervisor_statistics"]
    assert stats["count"] == 3 and stats["vcpus"] == 96 and stats["running_vms"] == 4


def test_malformed_reports_do_not_break_the_view(client, db):
    add_capacity(db, "top!cell2", [{"host": "ok", "vcpus": "lots"}, {"no-host": True}, "junk"])
    listed = client.get("/v2.1/os-hypervisors/detail", headers=ADMIN)
    assert listed.status_code == 200
    (only,) = listed.json["hypervisors"]
    assert only["id"] == "top!cell2@ok" and only["vcpus"] == 0 and only["state"] == "down"


def test_cell_tree(client, db):
    seed(db)
    cells = {c["path"]: c for c in client.get("/v2.1/os-cells", headers=ADMIN).json["cells"]}
    assert list(cells) == ["top", "top!cell1", "top!cell2", "top!site", "top!site!cell3"]
    assert cells["top!cell1"]["type"] == "compute" and cells["top!cell1"]["parent"] == "top"
    assert cells["top!cell1"]["vcpus_free"] == 100
    assert cells["top!cell1"]["reported_at"] == "2030-01-01T12:00:10Z"
    assert cells["top!site"]["type"] == "site" and cells["top!site"]["vcpus_free"] == 7
    assert cells["top!site!cell3"]["name"] == "cell3"
    assert cells["top"]["type"] == "api" and cells["top"]["vcpus_free"] == 107
    assert cells["top"]["parent"] is None
    assert cells["top"]["reported_at"] == "2030-01-01T12:00:05Z"  # the oldest report below
    assert cells["top!cell2"]["type"] == "unknown" and cells["top!cell2"]["reported_at"] is None


CELL_KEYS = {"path", "name", "parent", "type", "vcpus_free", "ram_mb_free", "disk_gb_free", "vcpus_total",
             "ram_mb_total", "disk_gb_total", "hosts_up", "hosts_total", "hs06_free", "largest_free_ram_mb",
             "largest_free_vcpus", "reported_at"}


def test_cell_tree_format_is_the_documented_one(client, db):
    seed(db)
    add_capacity(db, "elsewhere!cellx", [host("h")])  # not below this cell: left out
    body = client.get("/v2.1/os-cells", headers=ADMIN).json
    assert set(body) == {"cells"}
    assert all(set(cell) == CELL_KEYS for cell in body["cells"])
    paths = [c["path"] for c in body["cells"]]
    assert "elsewhere!cellx" not in paths
    # Every cell comes after its parent, and its parent is listed.
    for index, cell in enumerate(body["cells"]):
        assert cell["parent"] is None or cell["parent"] in paths[:index]
    site = next(c for c in body["cells"] if c["path"] == "top!site")
    assert (site["largest_free_vcpus"], site["hosts_up"], site["hs06_free"]) == (30, 1, 10.0)


def test_hypervisor_detail_keeps_the_nova_fields():
    from api.views import hypervisors as views

    (entry,) = views.hosts([{"cell_path": "top!c1", "capabilities": {"hosts": [host("h", cell_path="x")]}}])
    detail = views.detail(entry)
    assert detail["cell_path"] == "top!c1"  # the report's path, not whatever the host entry said
    nova = {"id", "hypervisor_hostname", "state", "status", "vcpus", "vcpus_used", "memory_mb",
            "memory_mb_used", "local_gb", "local_gb_used", "free_ram_mb", "free_disk_gb",
            "disk_available_least", "current_workload", "running_vms", "hypervisor_type",
            "hypervisor_version", "host_ip", "cpu_info", "service"}
    assert set(detail) == nova | {"cell_path"}
    assert set(views.summary(entry)) == {"id", "hypervisor_hostname", "state", "status"}
