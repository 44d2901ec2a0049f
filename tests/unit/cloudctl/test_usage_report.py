"""`cloudctl usage report`: rendering of an os-accounting answer, the command over HTTP, plots, errors."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudctl import accounting, shell
from cloudctl.commands import usage
from cloudctl.output import render
from tests.unit.cloudctl.tinyapi import PROJECT_ID, TinyApi, serving, use_cloud

ACCOUNTING = "/compute/v2.1/os-accounting"
GIB = 1024 ** 3


def _figures(vcpu: float, hs06: float, ram: float, disk: float, net_in: int, net_out: int,
             inst: float) -> dict[str, Any]:
    return {"vcpu_hours": vcpu, "hs06_hours": hs06, "ram_gb_hours": ram, "disk_gb_hours": disk,
            "net_in_bytes": net_in, "net_out_bytes": net_out, "instance_hours": inst}


def _group(key: str, name: str | None, parent: str | None, depth: int, days: list[float]) -> dict[str, Any]:
    """A group whose series has one point per day with ``days[i]`` vCPU-hours (other figures scaled)."""
    series = [{"period_start": f"2026-11-0{i + 1}T00:00:00Z",
               **_figures(v, v * 10, v * 2, v * 20, int(v * GIB), int(v * 1024), v / 2)}
              for i, v in enumerate(days)]
    total = sum(days)
    return {"key": key, "name": name, "parent_id": parent, "depth": depth,
            "totals": _figures(total, total * 10, total * 2, total * 20, int(total * GIB), int(total * 1024),
                               total / 2),
            "series": series}


def document(group_by: str = "project") -> dict[str, Any]:
    """An answer of GET os-accounting: two projects, the second a child of the first (for the tree)."""
    return {"accounting": {
        "start": "2026-11-01T00:00:00Z", "end": "2026-11-04T00:00:00Z", "granularity": "day",
        "group_by": group_by, "hour_seconds": 3600,
        "groups": [_group("p-child", "cms", "p-root", 2, [1.0, 2.0, 3.0]),
                   _group("p-root", "physics", None, 1, [10.0, 20.0, 30.0])]}}


@pytest.fixture
def api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TinyApi]:
    with serving() as served:
        use_cloud(served, tmp_path, monkeypatch)
        served.documents[("GET", ACCOUNTING)] = (200, document())
        yield served


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = shell.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _accounting_queries(api: TinyApi) -> list[dict[str, list[str]]]:
    return [query for method, path, query, _ in api.requests if method == "GET" and path == ACCOUNTING]


# --- rendering from a document ------------------------------------------------------------


def test_table_has_one_row_per_group_with_human_units_and_a_total() -> None:
    listing, _, _ = usage.build_listing(document(), tree=False)
    lines = render(listing, "table").splitlines()
    assert lines[0].split() == ["Group", "vCPU-h", "HS06-h", "RAM", "GB-h", "disk", "GB-h", "net", "in",
                                "net", "out"]
    assert [line.split()[0] for line in lines[2:]] == ["cms", "physics", "total"]
    cms, physics, total = lines[2:]
    assert cms.split()[1:5] == ["6.00", "60.00", "12.00", "120.00"]
    assert "6.0 GiB" in cms and "6.0 KiB" in cms
    assert physics.split()[1:4] == ["60.00", "600.00", "120.00"]
    assert total.split()[1:5] == ["66.00", "660.00", "132.00", "1,320.00"]
    assert "66.0 GiB" in total and "66.0 KiB" in total


def test_csv_and_json_carry_raw_numbers_and_no_total_row() -> None:
    listing, _, _ = usage.build_listing(document(), tree=False)
    rows = list(csv.DictReader(io.StringIO(render(listing, "csv"))))
    assert [r["group"] for r in rows] == ["p-child", "p-root"]
    assert rows[1]["net_in_bytes"] == str(60 * GIB) and rows[1]["vcpu_hours"] == "60.0"
    assert set(rows[0]) == set(accounting.ROW_KEYS)
    machine = json.loads(render(listing, "json"))
    assert [(m["name"], m["net_out_bytes"], m["hs06_hours"]) for m in machine] == [
        ("cms", 6 * 1024, 60.0), ("physics", 60 * 1024, 600.0)]


def test_tree_is_indented_by_depth_and_its_total_counts_each_subtree_once() -> None:
    listing, _, _ = usage.build_listing(document("parent"), tree=True)
    lines = render(listing, "table").splitlines()[2:]
    assert lines[0].startswith("physics ") and lines[1].startswith("  cms ")
    assert lines[2].split()[:2] == ["total", "60.00"]  # the root already holds its child's usage
    assert [m["depth"] for m in json.loads(render(listing, "json"))] == [0, 1]


def test_group_without_a_name_shows_its_key() -> None:
    doc = document("flavor")
    doc["accounting"]["groups"][0]["name"] = None
    listing, _, _ = usage.build_listing(doc, tree=False)
    assert "p-child" in render(listing, "table")


@pytest.mark.parametrize("body", [{}, {"accounting": {"groups": "x"}}, {"accounting": {"groups": [{}]}},
                                  {"accounting": {"groups": [{"key": "a", "totals": {"vcpu_hours": "1"}}]}},
                                  {"accounting": {"groups": [{"key": "a", "totals": {},
                                                              "series": [{"period_start": "soon"}]}]}}])
def test_an_answer_of_another_shape_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(accounting.AccountingError):
        usage.build_listing(body, tree=False)


# --- the command against a real HTTP server ---------------------------------------------------


def test_report_asks_for_the_period_and_grouping_given(api: TinyApi,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    api.documents[("GET", ACCOUNTING)] = (200, document("flavor"))
    code, out, err = _run(capsys, "usage", "report", "--start", "2026-11-01", "--end",
                          "2026-11-04T12:00:00+01:00", "--group-by", "flavor", "--granularity", "hour",
                          "-f", "json")
    assert code == 0, err
    assert [row["group"] for row in json.loads(out)] == ["p-child", "p-root"]
    (query,) = _accounting_queries(api)
    assert query == {"start": ["2026-11-01T00:00:00Z"], "end": ["2026-11-04T11:00:00Z"],
                     "granularity": ["hour"], "group_by": ["flavor"]}


def test_report_defaults_to_this_month_by_day_and_project(api: TinyApi,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "usage", "report")
    assert code == 0, err
    assert out.splitlines()[-1].startswith("total")
    (query,) = _accounting_queries(api)
    assert query["granularity"] == ["day"] and query["group_by"] == ["project"]
    start = accounting.parse_time(query["start"][0])
    assert (start.day, start.hour, start.minute) == (1, 0, 0)
    assert accounting.parse_time(query["end"][0]) > start


def test_tree_and_project_name(api: TinyApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.documents[("GET", ACCOUNTING)] = (200, document("parent"))
    code, out, err = _run(capsys, "usage", "report", "--tree", "--project", "physics", "-f", "csv")
    assert code == 0, err
    (query,) = _accounting_queries(api)
    assert query["group_by"] == ["parent"] and query["project_id"] == [PROJECT_ID]
    assert [r["depth"] for r in csv.DictReader(io.StringIO(out))] == ["0", "1"]


def test_plot_png_is_written(api: TinyApi, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "usage.png"
    code, _, err = _run(capsys, "usage", "report", "--start", "2026-11-01", "--end", "2026-11-04",
                        "--plot", str(target), "--metric", "hs06_hours")
    assert code == 0, err
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert target.stat().st_size > 1000


def test_plot_svg_has_one_line_per_group(api: TinyApi, capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    target = tmp_path / "usage.svg"
    code, _, err = _run(capsys, "usage", "report", "--start", "2026-11-01", "--end", "2026-11-04",
                        "--plot", str(target), "--metric", "ram_gb_hours")
    assert code == 0, err
    root = ET.parse(target).getroot()
    assert root.tag.endswith("svg")
    ids = sorted(e.get("id", "") for e in root.iter() if e.get("id", "").startswith("usage-line-"))
    assert ids == ["usage-line-p-child", "usage-line-p-root"]
    assert "GB-hours" in target.read_text()


@pytest.mark.parametrize(("argv", "message"), [
    (["--group-by", "host"], "invalid choice: 'host'"),
    (["--granularity", "week"], "invalid choice: 'week'"),
    (["--start", "yesterday"], "expected an ISO date or date-time"),
    (["--plot", "usage.pdf"], "name a .png or .svg file"),
    (["--metric", "net_in_bytes"], "invalid choice: 'net_in_bytes'"),
    (["--tree", "--group-by", "cell"], "--tree needs --group-by project"),
    (["--start", "2026-11-05", "--end", "2026-11-01"], "must be before --end"),
    (["-f", "xml"], "invalid choice: 'xml'"),
])
def test_bad_options_exit_2_with_a_message(api: TinyApi, capsys: pytest.CaptureFixture[str],
                                           argv: list[str], message: str) -> None:
    code, out, err = _run(capsys, "usage", "report", *argv)
    assert code == 2
    assert message in err and out == ""
    assert _accounting_queries(api) == []


def test_api_400_prints_its_message_and_exits_1(api: TinyApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.documents[("GET", ACCOUNTING)] = (400, {"badRequest": {
        "code": 400, "message": "The period holds more than 10000 hours; use a coarser granularity."}})
    code, out, err = _run(capsys, "usage", "report", "--granularity", "hour")
    assert code == 1 and out == ""
    assert "error: The period holds more than 10000 hours; use a coarser granularity. (HTTP 400)" in err


def test_an_answer_of_another_shape_exits_1(api: TinyApi, capsys: pytest.CaptureFixture[str]) -> None:
    api.documents[("GET", ACCOUNTING)] = (200, {"usage": []})
    code, _, err = _run(capsys, "usage", "report")
    assert code == 1 and "not an accounting document" in err


def test_a_plot_that_cannot_be_written_exits_1(api: TinyApi, capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "usage.png"
    code, _, err = _run(capsys, "usage", "report", "--plot", str(target))
    assert code == 1 and f"error: cannot write {target}: No such file or directory" in err
