"""How commands shape API resources into rows: the cell tree, hosts, servers (pure)."""

from __future__ import annotations

from cloudctl.commands import cell, host, server
from cloudctl.output import render


def leaf(path, vcpus, ram, disk, up, total):
    return {"path": path, "vcpus_free": vcpus, "ram_mb_free": ram, "disk_gb_free": disk,
            "hosts_up": up, "hosts_total": total}


def test_tree_orders_parents_first_and_sums_unreported_parents():
    rows = cell.build_tree([leaf("top!site!c3", 4, 1024, 10, 1, 1), leaf("top!c1", 8, 2048, 20, 2, 3),
                            leaf("top!site!c2", 2, 512, 5, 1, 2)])
    assert [(r["path"], r["depth"], r["type"]) for r in rows] == [
        ("top", 0, "api"), ("top!c1", 1, "compute"), ("top!site", 1, "site"),
        ("top!site!c2", 2, "compute"), ("top!site!c3", 2, "compute")]
    by_path = {r["path"]: r for r in rows}
    assert by_path["top!site"]["vcpus_free"] == 6 and by_path["top!site"]["hosts_total"] == 3
    assert by_path["top"]["ram_mb_free"] == 3584 and by_path["top"]["hosts_up"] == 4


def test_tree_keeps_figures_the_api_gave_and_accepts_nesting():
    rows = cell.build_tree([{"path": "top", "type": "api", "vcpus_free": 99, "children": [
        {"cell_path": "top!c1", "type": "compute", "vcpus_free": 5}]}])
    assert [(r["path"], r["vcpus_free"]) for r in rows] == [("top", 99), ("top!c1", 5)]


def test_tree_table_indents_children_under_parents():
    listing = cell.Listing(cell.COLUMNS, cell.build_tree([leaf("top!site!c2", 2, 512, 5, 1, 2),
                                                          leaf("top!c1", 8, 2048, 20, 2, 3)]))
    lines = render(listing, "table").splitlines()
    assert [line.split("  ")[0] for line in lines[2:]] == ["top", "", "", ""]
    assert lines[2].startswith("top ")
    assert lines[3].startswith("  c1 ")
    assert lines[4].startswith("  site ")
    assert lines[5].startswith("    c2 ")
    assert lines[5].rstrip().endswith("1/2")


def test_host_rows_take_the_cell_from_the_extension_or_the_service_host():
    plain = host.summary({"id": 1, "hypervisor_hostname": "node1", "cell_path": "top!c1", "state": "up",
                          "status": "enabled", "vcpus": 8, "vcpus_used": 2, "memory_mb": 8192,
                          "memory_mb_used": 1024, "running_vms": 2})
    assert (plain["cell"], plain["host"], plain["vcpus_used"]) == ("top!c1", "node1", 2)
    legacy = host.summary({"id": 2, "service": {"host": "top!c2@node2"}, "state": "down"})
    assert (legacy["cell"], legacy["host"]) == ("top!c2", "node2")
    text = render(host.Listing(host.COLUMNS, [plain]), "table").splitlines()[2]
    assert "2 / 8" in text and "1.0 GiB / 8.0 GiB" in text


def test_server_summary_reads_nova_extension_keys():
    row = server.summary({"id": "x", "name": "n", "status": "ACTIVE", "OS-EXT-STS:task_state": None,
                          "flavor": {"original_name": "m1.small", "vcpus": 1}, "image": {"id": "img"},
                          "tenant_id": "p", "fault": {"message": "boom"}})
    assert (row["flavor"], row["image"], row["project_id"], row["fault"]) == ("m1.small", "img", "p", "boom")
    assert server.summary({"image": ""})["image"] is None  # booted from volume
