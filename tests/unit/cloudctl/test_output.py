"""Tables, JSON and YAML of the same rows (pure)."""

from __future__ import annotations

import json

import yaml

from cloudctl.output import Column, Listing, Record, format_table, human_gb, human_mb, render, to_text

COLUMNS = [Column("id", "ID"), Column("name", "Name"), Column("vcpus", "vCPUs"),
           Column("ram", "RAM", lambda r: human_mb(r["ram"]))]
ROWS = [{"id": "a1", "name": "web-server-1", "vcpus": 2, "ram": 2048},
        {"id": "b2", "name": "db", "vcpus": 16, "ram": 65536}]


def test_table_is_aligned_with_numbers_on_the_right():
    lines = format_table(COLUMNS, ROWS).splitlines()
    assert lines == [
        "ID  Name          vCPUs  RAM",
        "--  ------------  -----  --------",
        "a1  web-server-1      2  2.0 GiB",
        "b2  db               16  64.0 GiB",
    ]


def test_empty_table_still_has_its_header():
    assert format_table(COLUMNS, []).splitlines()[0].split() == ["ID", "Name", "vCPUs", "RAM"]


def test_record_is_a_field_value_table():
    text = render(Record({"id": "a1", "metadata": {"k": "v"}, "fault": None}), "table")
    assert text.splitlines() == ["Field     Value", "--------  -----", "id        a1", "metadata  k=v",
                                 "fault"]


def test_json_and_yaml_carry_the_same_plain_values():
    listing = Listing(COLUMNS, ROWS)
    as_json = json.loads(render(listing, "json"))
    assert as_json == yaml.safe_load(render(listing, "yaml")) == ROWS
    record = Record({"id": "a1", "metadata": {"k": "v"}, "size": None})
    assert json.loads(render(record, "json")) == yaml.safe_load(render(record, "yaml")) == record.fields


def test_machine_keys_choose_what_scripts_see():
    listing = Listing([Column("h", "Hosts", lambda r: f"{r['up']}/{r['total']}")],
                      [{"up": 1, "total": 2}], machine_keys=["up", "total"])
    assert json.loads(render(listing, "json")) == [{"up": 1, "total": 2}]
    assert render(listing, "table").splitlines()[2] == "1/2"


def test_nothing_to_show_renders_nothing():
    assert render(None, "table") == render(None, "json") == ""


def test_cell_text_and_sizes():
    assert (to_text(None), to_text(True), to_text([1, "a"])) == ("", "True", "1, a")
    assert (human_mb(512), human_mb(1536), human_mb(3 * 1024 * 1024)) == ("512 MiB", "1.5 GiB", "3.0 TiB")
    assert (human_gb(None), human_gb(0), human_gb(20)) == ("", "0", "20.0 GiB")
