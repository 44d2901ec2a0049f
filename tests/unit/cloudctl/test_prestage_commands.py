"""`cloudctl image prestage|prestage-show|prestage-list` against the fake cloud."""

from __future__ import annotations

import json

import pytest

from cloudctl import shell

CIRROS = "11111111-2222-3333-4444-555555555555"
BROKEN = "99999999-2222-3333-4444-555555555555"


def run(capsys, *argv):
    code = shell.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cloud(fake_cloud, clouds_yaml):
    fake_cloud.images[CIRROS] = {"id": CIRROS, "name": "cirros", "status": "active"}
    fake_cloud.images[BROKEN] = {"id": BROKEN, "name": "broken", "status": "active"}
    fake_cloud.cells = [{"path": "top", "name": "top", "parent": None, "type": "api"},
                        {"path": "top!cell1", "name": "cell1", "parent": "top", "type": "compute"},
                        {"path": "top!site", "name": "site", "parent": "top", "type": "site"},
                        {"path": "top!site!cell1", "name": "cell1", "parent": "top!site", "type": "compute"},
                        {"path": "top!site!cell2", "name": "cell2", "parent": "top!site", "type": "compute"}]
    fake_cloud.cell_hosts = {"top!cell1": ["host-001", "host-002", "host-003"],
                             "top!site!cell2": ["host-001", "host-002"]}
    return fake_cloud


def test_parsing():
    parser = shell.build_parser()
    args = parser.parse_args(["image", "prestage", "cirros", "--cell", "cell1"])
    assert (args.image, args.cell, args.wait, args.timeout) == ("cirros", "cell1", True, 3600.0)
    assert parser.parse_args(["image", "prestage", "x", "--cell", "c", "--no-wait"]).wait is False


def test_parsing_the_settings_of_a_run(capsys):
    parser = shell.build_parser()
    args = parser.parse_args(["image", "prestage", "x", "--cell", "c"])
    assert (args.endpoint_copies, args.peer_copies) == (None, None)
    args = parser.parse_args(["image", "prestage", "x", "--cell", "c", "--endpoint-copies", "1",
                              "--peer-copies", "0"])
    assert (args.endpoint_copies, args.peer_copies) == (1, 0)
    for bad in (["--endpoint-copies", "0"], ["--peer-copies", "-1"], ["--peer-copies", "two"]):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(["image", "prestage", "x", "--cell", "c", *bad])
        assert exit_.value.code == 2
    assert "expected a" in capsys.readouterr().err


def test_the_settings_are_sent_only_when_given(capsys, cloud):
    code, out, err = run(capsys, "image", "prestage", "cirros", "--cell", "top!cell1", "--no-wait",
                         "--endpoint-copies", "1", "--peer-copies", "0", "-f", "json")
    assert code == 0, err
    shown = json.loads(out)
    assert (shown["endpoint_copies"], shown["peer_copies"]) == (1, 0)
    assert cloud.prestages[shown["id"]]["peer_copies"] == 0
    code, out, err = run(capsys, "image", "prestage", "cirros", "--cell", "top!cell1", "--no-wait",
                         "--peer-copies", "3", "-f", "json")
    shown = json.loads(out)
    assert code == 0 and (shown["endpoint_copies"], shown["peer_copies"]) == (None, 3)
    code, out, err = run(capsys, "image", "prestage", "cirros", "--cell", "top!cell1", "--no-wait",
                         "-f", "json")
    assert code == 0 and (json.loads(out)["endpoint_copies"], json.loads(out)["peer_copies"]) == (None, None)


def test_the_cell_is_required(capsys, monkeypatch):
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", "/no/such/clouds.yaml")
    code, out, err = run(capsys, "image", "prestage", "cirros")
    assert code == 2 and out == "" and "--cell" in err


def test_prestage_waits_shows_progress_and_reports(capsys, cloud):
    code, out, err = run(capsys, "image", "prestage", "cirros", "--cell", "top!cell1", "-f", "json")
    assert code == 0, err
    shown = json.loads(out)
    assert (shown["status"], shown["image"], shown["cell"]) == ("done", "cirros", "top!cell1")
    assert (shown["hosts_total"], shown["hosts_done"], shown["hosts_failed"]) == (3, 3, 0)
    assert shown["elapsed"] == "3.0 s" and shown["failures"] == {}
    lines = err.splitlines()
    assert lines[0].startswith("prestage cirros to top!cell1: queued (")
    assert "1/3 done, 0 failed" in lines[1] and lines[-1].startswith("prestage cirros to top!cell1: 3/3 done")
    # A path is taken as it is: no lookup of the cells.
    assert not [r for r in cloud.requests if r[1].endswith("/os-cells")]


def test_failed_hosts_make_the_exit_status_1_and_are_named(capsys, cloud):
    code, out, err = run(capsys, "image", "prestage", BROKEN, "--cell", "cell2")
    assert code == 1
    assert "error: 1 of 2 hosts failed: host-002: no answer from the host's agent in 900 s" in err
    assert "host-002=no answer" in out and "top!site!cell2" in out


def test_no_wait_returns_the_queued_run(capsys, cloud):
    code, out, err = run(capsys, "image", "prestage", "cirros", "--cell", "top!cell1", "--no-wait",
                         "-f", "json")
    assert code == 0 and err == "" and json.loads(out)["status"] == "queued"


@pytest.mark.parametrize("cell,message", [
    ("cell9", "no compute cell is named 'cell9'"),
    ("site", "no compute cell is named 'site'"),
    ("cell1", "more than one compute cell is named 'cell1' (top!cell1, top!site!cell1)"),
    ("top!cell9", "Cell top!cell9 is not a compute cell"),
])
def test_cells_are_resolved_by_name_or_refused(capsys, cloud, cell, message):
    code, out, err = run(capsys, "image", "prestage", "cirros", "--cell", cell)
    assert code == 1 and out == "" and message in err


def test_show_and_list(capsys, cloud):
    code, out, _ = run(capsys, "image", "prestage", "cirros", "--cell", "top!cell1", "--no-wait",
                       "-f", "json")
    run_id = json.loads(out)["id"]
    code, out, _ = run(capsys, "image", "prestage-show", run_id, "-f", "json")
    assert code == 0 and json.loads(out)["id"] == run_id
    code, out, _ = run(capsys, "image", "prestage-list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:4] == ["ID", "Image", "Cell", "Status"] and run_id in lines[2]
    code, _, err = run(capsys, "image", "prestage-show", "nope")
    assert code == 1 and "could not be found" in err


def test_show_reads_the_document_exactly_as_the_api_writes_it(capsys, cloud):
    import datetime as dt

    from api.views import prestages as views
    from api.views.links import Links

    start = dt.datetime(2030, 1, 1, 12, 0, 0)
    row = {"id": "run-1", "image_id": CIRROS, "image_name": "cirros", "cell_path": "top!cell1",
           "status": "done", "hosts_total": 50, "hosts_done": 49, "hosts_failed": 1, "hosts_cached": 2,
           "from_endpoint": 9, "from_peers": 38, "depth": 5, "failures": {"host-050": "host is down"},
           "endpoint_copies": 2, "peer_copies": 1,
           "error": None, "user_id": "u", "project_id": "p", "created_at": start, "updated_at": start,
           "started_at": start, "finished_at": start + dt.timedelta(seconds=42)}
    cloud.prestages["run-1"] = views.detail(row, Links("http://api"))
    code, out, _ = run(capsys, "image", "prestage-show", "run-1", "-f", "json")
    shown = json.loads(out)
    assert code == 0
    assert {k: shown[k] for k in ("image", "cell", "status", "hosts_total", "hosts_done", "hosts_failed",
                                  "from_peers", "from_endpoint", "hosts_cached", "depth", "elapsed",
                                  "failures", "endpoint_copies", "peer_copies")} == {
        "image": "cirros", "cell": "top!cell1", "status": "done", "hosts_total": 50, "hosts_done": 49,
        "hosts_failed": 1, "from_peers": 38, "from_endpoint": 9, "hosts_cached": 2, "depth": 5,
        "elapsed": "42.0 s", "failures": {"host-050": "host is down"}, "endpoint_copies": 2,
        "peer_copies": 1}
