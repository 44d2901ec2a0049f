"""How commands shape API resources into rows: the cell tree, hosts, servers (pure)."""

from __future__ import annotations

from cloudctl.commands import cell as cell_cmd
from cloudctl.commands import host, server
from cloudctl.output import render


def cell(path, parent, kind, vcpus=0, up=0, total=0, **extra):
    """One cell as os-cells lists it (see api/views/cells.py)."""
    return {"path": path, "name": path.rpartition("!")[2], "parent": parent, "type": kind,
            "vcpus_free": vcpus, "ram_mb_free": vcpus * 256, "disk_gb_free": vcpus * 10,
            "hosts_up": up, "hosts_total": total, "reported_at": None, **extra}


TREE = [cell("top", None, "api", 14, 4, 6), cell("top!c1", "top", "compute", 8, 2, 3),
        cell("top!site", "top", "site", 6, 2, 3), cell("top!site!c2", "top!site", "compute", 2, 1, 2),
        cell("top!site!c3", "top!site", "compute", 4, 1, 1)]


def test_tree_follows_parent_links_and_keeps_the_api_figures():
    rows = cell_cmd.build_tree(list(reversed(TREE)))
    assert [(r["path"], r["depth"], r["type"]) for r in rows] == [
        ("top", 0, "api"), ("top!c1", 1, "compute"), ("top!site", 1, "site"),
        ("top!site!c2", 2, "compute"), ("top!site!c3", 2, "compute")]
    # Figures are the API's, never re-summed: a site's are its own.
    assert [r["vcpus_free"] for r in rows] == [14, 8, 6, 2, 4]


def test_tree_shows_a_cell_with_an_unlisted_parent_as_a_root():
    rows = cell_cmd.build_tree([cell("top!x!c9", "top!x", "compute"), cell("top", None, "api"),
                                cell("loop", "loop", "site")])
    assert [(r["path"], r["depth"]) for r in rows] == [("loop", 0), ("top", 0), ("top!x!c9", 0)]


def test_tree_table_indents_children_under_parents():
    listing = cell_cmd.Listing(cell_cmd.COLUMNS, cell_cmd.build_tree(TREE))
    lines = render(listing, "table").splitlines()
    assert [line.split("  ")[0] for line in lines[2:]] == ["top", "", "", "", ""]
    assert lines[2].startswith("top ")
    assert lines[3].startswith("  c1 ")
    assert lines[4].startswith("  site ")
    assert lines[5].startswith("    c2 ")
    assert "1/2" in lines[5]


def test_host_rows_take_the_cell_from_cell_path_or_the_prefixed_name():
    plain = host.summary({"id": "top!c1@node@1", "hypervisor_hostname": "top!c1@node@1",
                          "cell_path": "top!c1", "state": "up", "status": "enabled", "vcpus": 8,
                          "vcpus_used": 2, "memory_mb": 8192, "memory_mb_used": 1024, "running_vms": 2})
    # cell_path says where the prefix ends, even when the host name holds an '@'.
    assert (plain["cell"], plain["host"], plain["vcpus_used"]) == ("top!c1", "node@1", 2)
    legacy = host.summary({"id": 2, "service": {"host": "top!c2@node2"}, "state": "down"})
    assert (legacy["cell"], legacy["host"]) == ("top!c2", "node2")
    bare = host.summary({"id": 3, "hypervisor_hostname": "node3", "cell_path": "top!c3"})
    assert (bare["cell"], bare["host"]) == ("top!c3", "node3")
    text = render(host.Listing(host.COLUMNS, [plain]), "table").splitlines()[2]
    assert "2 / 8" in text and "1.0 GiB / 8.0 GiB" in text


def test_server_summary_reads_nova_extension_keys():
    row = server.summary({"id": "x", "name": "n", "status": "ACTIVE", "OS-EXT-STS:task_state": None,
                          "flavor": {"original_name": "m1.small", "vcpus": 1}, "image": {"id": "img"},
                          "tenant_id": "p", "fault": {"message": "boom"}})
    assert (row["flavor"], row["image"], row["project_id"], row["fault"]) == ("m1.small", "img", "p", "boom")
    assert server.summary({"image": ""})["image"] is None  # booted from volume
