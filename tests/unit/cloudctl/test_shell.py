"""The command line: parsing and exit codes, then whole commands against the fake cloud."""

from __future__ import annotations

import json
import sys
import types

import pytest
import yaml

import cloudctl
from cloudctl import shell


def run(capsys, *argv):
    code = shell.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- parsing (no cloud needed) -------------------------------------------------------

def test_format_may_come_before_or_after_the_command():
    parser = shell.build_parser()
    assert parser.parse_args(["server", "list"]).format == "table"
    assert parser.parse_args(["-f", "json", "server", "list"]).format == "json"
    assert parser.parse_args(["server", "list", "-f", "yaml"]).format == "yaml"
    args = parser.parse_args(["--os-cloud", "c", "server", "create", "vm", "--flavor", "f", "--image", "i",
                              "--property", "a=1", "--property", "b=x=y", "--wait"])
    assert (args.os_cloud, args.name, args.wait) == ("c", "vm", True)
    assert args.property == [("a", "1"), ("b", "x=y")]
    args = parser.parse_args(["server", "reboot", "--hard", "vm"])
    assert args.hard and args.server == "vm"
    assert parser.parse_args(["server", "delete", "a", "b"]).servers == ["a", "b"]


@pytest.mark.parametrize("argv", [
    [], ["server"], ["bogus"], ["server", "list", "--limit", "0"], ["server", "create", "x"],
    ["server", "create", "x", "--flavor", "f", "--image", "i", "--property", "novalue"],
    ["flavor", "create", "f", "--vcpus", "1", "--ram", "-5", "--disk", "1"],
    ["-f", "xml", "server", "list"], ["server", "start", "--hard", "vm"],
    ["image", "upload", "x", "/no/such/file"],
])
def test_usage_errors_exit_2_without_touching_a_cloud(capsys, argv, monkeypatch):
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", "/no/such/clouds.yaml")
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and "usage:" in err


def test_help_exits_0(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "server" in out and "up" in out


def test_up_and_admin_go_to_the_launcher(capsys, monkeypatch):
    calls = []
    fake = types.ModuleType("cloudctl.up")
    fake.main_up = lambda argv: calls.append(("up", argv)) or 0
    fake.main_admin = lambda argv: calls.append(("admin", argv)) or 3
    monkeypatch.setitem(sys.modules, "cloudctl.up", fake)
    monkeypatch.setattr(cloudctl, "up", fake, raising=False)
    assert shell.main(["up", "--config", "x.yaml", "-f"]) == 0
    assert shell.main(["--debug", "admin", "db-sync", "--config", "c.yaml"]) == 3
    assert calls == [("up", ["--config", "x.yaml", "-f"]), ("admin", ["db-sync", "--config", "c.yaml"])]
    assert shell.launcher_split(["--os-cloud", "up", "server", "list"]) is None


def test_no_cloud_configured_is_an_error_with_a_hint(capsys, monkeypatch, tmp_path):
    for var in ("OS_CLOUD", "OS_AUTH_URL", "OS_CLIENT_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "server", "list")
    assert code == 1 and out == "" and "--os-cloud" in err


# --- against the fake cloud ---------------------------------------------------------------

@pytest.fixture
def cloud(fake_cloud, clouds_yaml):
    fake_cloud.flavors["f1"] = {"id": "f1", "name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20,
                                "OS-FLV-EXT-DATA:ephemeral": 0, "os-flavor-access:is_public": True}
    fake_cloud.images["11111111-2222-3333-4444-555555555555"] = {
        "id": "11111111-2222-3333-4444-555555555555", "name": "cirros", "status": "active"}
    fake_cloud.images["99999999-2222-3333-4444-555555555555"] = {
        "id": "99999999-2222-3333-4444-555555555555", "name": "broken", "status": "active"}
    return fake_cloud


def test_server_create_wait_shows_progress_and_the_server(capsys, cloud):
    code, out, err = run(capsys, "--os-cloud", "fake", "server", "create", "web1", "--flavor", "m1.small",
                         "--image", "cirros", "--property", "role=web", "--wait", "-f", "json")
    assert code == 0, err
    shown = json.loads(out)
    assert (shown["name"], shown["status"], shown["metadata"]) == ("web1", "ACTIVE", {"role": "web"})
    lines = err.splitlines()
    assert lines[0].startswith("web1: BUILD (") and lines[-1].startswith("web1: BUILD ... ACTIVE (")
    assert lines[-1].endswith(" s)")


def test_server_create_wait_exits_1_on_error(capsys, cloud):
    code, out, err = run(capsys, "server", "create", "bad", "--flavor", "f1", "--image", "broken", "--wait")
    assert code == 1
    assert "bad: BUILD ... ERROR" in err
    assert "error: server bad went to ERROR: No valid host was found." in err
    assert "ERROR" in out  # the server is still shown, with its fault


def test_server_create_without_wait_returns_at_once(capsys, cloud):
    code, out, err = run(capsys, "-f", "yaml", "server", "create", "vm", "--flavor", "f1",
                         "--image", "cirros")
    assert code == 0 and err == "" and yaml.safe_load(out)["status"] == "BUILD"


def test_server_list_table_and_json(capsys, cloud):
    for i in range(5):
        cloud.add_server(f"vm{i}")
    cloud.add_server("off", status="SHUTOFF")
    code, out, _ = run(capsys, "server", "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:4] == ["ID", "Name", "Status", "Task"] and len(lines) == 8
    code, out, _ = run(capsys, "server", "list", "--status", "shutoff", "-f", "json")
    assert [s["name"] for s in json.loads(out)] == ["off"]
    code, out, _ = run(capsys, "server", "list", "--limit", "4", "-f", "json")
    assert len(json.loads(out)) == 4


def test_server_show_by_name_and_ambiguity(capsys, cloud):
    server_id = cloud.add_server("solo")
    cloud.add_server("twin")
    cloud.add_server("twin")
    code, out, _ = run(capsys, "server", "show", "solo", "-f", "json")
    assert code == 0 and json.loads(out)["id"] == server_id
    code, out, err = run(capsys, "server", "show", "twin")
    assert code == 1 and out == "" and "More than one server exists with the name 'twin'" in err


def test_server_delete_many_with_wait_reports_the_missing_one(capsys, cloud):
    a, b = cloud.add_server("a"), cloud.add_server("b")
    code, _, err = run(capsys, "server", "delete", "a", "ghost", b, "--wait")
    assert code == 1
    assert "error: ghost: No server with a name or ID of 'ghost' exists." in err
    assert "a: ACTIVE ... DELETED" in err and f"{b}: ACTIVE ... DELETED" in err
    assert a not in cloud.servers and b not in cloud.servers


def test_stop_start_reboot_with_wait(capsys, cloud):
    cloud.add_server("vm")
    assert run(capsys, "server", "stop", "vm", "--wait")[0] == 0
    code, _, err = run(capsys, "server", "stop", "vm")
    assert code == 1 and "Cannot 'stop' instance" in err and "HTTP 409" in err
    code, _, err = run(capsys, "server", "start", "vm", "--wait")
    assert code == 0 and "vm: SHUTOFF ... ACTIVE" in err
    code, _, err = run(capsys, "server", "reboot", "--hard", "vm", "--wait")
    assert code == 0 and "vm: HARD_REBOOT ... ACTIVE" in err


def test_wait_timeout_exits_1(capsys, cloud):
    cloud.steps = 10_000
    cloud.add_server("slow")
    code, _, err = run(capsys, "server", "stop", "slow", "--wait", "--timeout", "0.3")
    assert code == 1 and "still ACTIVE after 0 s" in err


def test_flavor_commands(capsys, cloud):
    code, out, _ = run(capsys, "flavor", "create", "m1.big", "--vcpus", "4", "--ram", "8192", "--disk", "40",
                       "--id", "big", "-f", "json")
    assert code == 0 and json.loads(out)["id"] == "big"
    code, out, _ = run(capsys, "flavor", "list")
    assert "m1.big" in out and "8.0 GiB" in out
    code, _, err = run(capsys, "flavor", "create", "m1.big", "--vcpus", "1", "--ram", "1", "--disk", "1")
    assert code == 1 and "already exists" in err
    assert run(capsys, "flavor", "delete", "m1.big")[0] == 0
    assert "big" not in cloud.flavors


def test_image_create_with_file_and_upload(capsys, cloud, tmp_path):
    disk = tmp_path / "disk.img"
    disk.write_bytes(b"x" * 4096)
    code, out, _ = run(capsys, "image", "create", "mine", "--file", str(disk), "--disk-format", "raw",
                       "--property", "os_distro=cirros", "-f", "json")
    shown = json.loads(out)
    assert code == 0 and (shown["status"], shown["size"]) == ("active", 4096)
    assert shown["properties"] == {"os_distro": "cirros"}
    code, out, _ = run(capsys, "image", "create", "later", "-f", "json")
    image_id = json.loads(out)["id"]
    assert run(capsys, "image", "upload", "later", str(disk))[0] == 0
    assert cloud.image_data[image_id] == b"x" * 4096
    code, out, _ = run(capsys, "image", "list", "-f", "json")
    assert {"mine", "later", "cirros"} <= {i["name"] for i in json.loads(out)}


def test_cell_and_host_lists(capsys, cloud):
    figures = {"ram_mb_free": 4096, "disk_gb_free": 100, "reported_at": "2030-01-01T12:00:00Z"}
    cloud.cells = [{"path": "top", "name": "top", "parent": None, "type": "api", "vcpus_free": 10,
                    "hosts_up": 2, "hosts_total": 3, **figures},
                   {"path": "top!cell1", "name": "cell1", "parent": "top", "type": "compute",
                    "vcpus_free": 10, "hosts_up": 2, "hosts_total": 2, **figures},
                   {"path": "top!cell2", "name": "cell2", "parent": "top", "type": "unknown",
                    "vcpus_free": 0, "hosts_up": 0, "hosts_total": 1, "reported_at": None}]
    cloud.hypervisors = [{"id": "top!cell2@h1", "hypervisor_hostname": "top!cell2@h1",
                          "cell_path": "top!cell2", "state": "down", "status": "enabled", "vcpus": 4,
                          "vcpus_used": 0, "memory_mb": 4096, "memory_mb_used": 0, "local_gb": 10,
                          "local_gb_used": 0, "running_vms": 0}]
    code, out, _ = run(capsys, "cell", "list")
    lines = out.splitlines()
    assert code == 0 and lines[2].startswith("top ") and "2/3" in lines[2]
    assert lines[3].startswith("  cell1 ") and lines[4].startswith("  cell2 ") and "unknown" in lines[4]
    code, out, _ = run(capsys, "host", "list", "-f", "json")
    assert code == 0 and (json.loads(out)[0]["cell"], json.loads(out)[0]["host"]) == ("top!cell2", "h1")


def test_cell_list_refuses_an_answer_in_another_format(capsys, cloud):
    cloud.cells = [{"cell_path": "top!cell1", "vcpus_free": 4}]
    code, out, err = run(capsys, "cell", "list")
    assert code == 1 and out == "" and "os-cells" in err


def test_debug_logs_requests_but_no_secrets(capsys, cloud):
    code, out, err = run(capsys, "--debug", "server", "list")
    assert code == 0 and "GET http://127.0.0.1" in err
    assert "secret" not in err and not any(t in err for t in cloud.tokens)
