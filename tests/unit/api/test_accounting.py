"""os-accounting: groupings (project, parent tree, cell, flavor), granularities, pro rata edges,
isolation, limits and bad input; the SQL on SQLite and MariaDB."""

from __future__ import annotations

import datetime as dt

import pytest

from api.compute import accounting
from api.store import usage as store
from tests.unit.api.conftest import ADMIN, MEMBER_A, MEMBER_B, PROJECT_A, PROJECT_B, READER_A, auth
from tests.unit.api.usage_data import GRAND, ROOT, seed

URL = "/v2.1/os-accounting"
# Half of the 23:00 bucket, all of the 00:00 one (the first hour of November).
PERIOD = "start=2026-10-31T23:30:00Z&end=2026-11-01T01:00:00Z"


@pytest.fixture
def seeded(db):
    seed(db)
    return db


def get(client, query: str, headers=ADMIN) -> dict:
    response = client.get(f"{URL}?{PERIOD}&{query}", headers=headers)
    assert response.status_code == 200, response.json
    return response.json["accounting"]


def by_key(doc: dict) -> dict:
    return {g["key"]: g for g in doc["groups"]}


def test_by_project(client, seeded):
    doc = get(client, "granularity=hour&group_by=project")
    assert (doc["start"], doc["end"], doc["granularity"], doc["group_by"], doc["hour_seconds"]) == (
        "2026-10-31T23:30:00Z", "2026-11-01T01:00:00Z", "hour", "project", 3600.0)
    groups = by_key(doc)
    assert set(groups) == {PROJECT_A, PROJECT_B, GRAND}
    a = groups[PROJECT_A]
    assert (a["name"], a["parent_id"]) == ("alpha", ROOT)
    assert "depth" not in a
    assert a["totals"] == {"vcpu_hours": 1.5, "hs06_hours": 15.0, "ram_gb_hours": 0.75,
                           "disk_gb_hours": 1.5, "net_in_bytes": 1500, "net_out_bytes": 3000,
                           "instance_hours": 1.5}
    assert [(p["period_start"], p["vcpu_hours"]) for p in a["series"]] == [
        ("2026-10-31T23:00:00Z", 0.5), ("2026-11-01T00:00:00Z", 1.0)]
    b = groups[PROJECT_B]
    assert (b["name"], b["parent_id"]) == ("beta", None)
    assert b["totals"]["vcpu_hours"] == 1.0 and b["totals"]["instance_hours"] == 0.25
    assert groups[GRAND]["totals"]["hs06_hours"] == 40.0


def test_by_parent_sums_whole_subtrees(client, seeded):
    doc = get(client, "group_by=parent&granularity=day")
    # Ordered by the tree: every project right after its parent.
    assert [(g["key"], g["depth"]) for g in doc["groups"]] == [
        (PROJECT_B, 0), (ROOT, 0), (PROJECT_A, 1), (GRAND, 2)]
    groups = by_key(doc)
    assert groups[ROOT]["totals"]["vcpu_hours"] == 5.5
    assert groups[ROOT]["name"] == "root" and groups[ROOT]["parent_id"] is None
    assert groups[PROJECT_A]["totals"]["vcpu_hours"] == 5.5
    assert groups[GRAND]["totals"]["vcpu_hours"] == 4.0
    assert groups[GRAND]["parent_id"] == PROJECT_A
    assert [(p["period_start"], p["vcpu_hours"]) for p in groups[ROOT]["series"]] == [
        ("2026-10-31T00:00:00Z", 0.5), ("2026-11-01T00:00:00Z", 5.0)]


def test_admin_narrows_the_parent_tree_to_a_subtree(client, seeded):
    doc = get(client, f"group_by=parent&project_id={PROJECT_A}")
    assert [(g["key"], g["depth"], g["totals"]["vcpu_hours"]) for g in doc["groups"]] == [
        (PROJECT_A, 1, 5.5), (GRAND, 2, 4.0)]


def test_by_cell(client, seeded):
    groups = by_key(get(client, "group_by=cell&granularity=month"))
    assert set(groups) == {"top!cell1", "top!cell2"}
    cell1 = groups["top!cell1"]
    assert cell1["name"] == "top!cell1" and "parent_id" not in cell1
    assert cell1["totals"]["vcpu_hours"] == 2.5
    assert [(p["period_start"], p["vcpu_hours"]) for p in cell1["series"]] == [
        ("2026-10-01T00:00:00Z", 1.5), ("2026-11-01T00:00:00Z", 1.0)]


def test_by_flavor(client, seeded):
    groups = by_key(get(client, "group_by=flavor"))
    assert {k: (g["name"], g["totals"]["vcpu_hours"]) for k, g in groups.items()} == {
        "1": ("m1.small", 1.5), "2": ("m1.large", 5.0)}


def test_admin_narrows_to_one_project(client, seeded):
    groups = by_key(get(client, f"group_by=cell&project_id={PROJECT_B}"))
    assert {k: g["totals"]["vcpu_hours"] for k, g in groups.items()} == {"top!cell1": 1.0}


def test_a_member_sees_its_own_project_only(client, seeded):
    for headers in (MEMBER_A, READER_A):
        for group_by in ("project", "parent", "cell", "flavor"):
            doc = get(client, f"group_by={group_by}", headers)
            assert sum(g["totals"]["vcpu_hours"] for g in doc["groups"]) == 1.5, group_by
    # Its parent's figures are not its own, nor its child's.
    parent = get(client, "group_by=parent", MEMBER_A)
    assert [(g["key"], g["depth"]) for g in parent["groups"]] == [(PROJECT_A, 1)]
    assert get(client, f"project_id={PROJECT_A}", MEMBER_A)["groups"][0]["key"] == PROJECT_A


@pytest.mark.parametrize("headers, project", [(MEMBER_A, PROJECT_B), (MEMBER_B, PROJECT_A),
                                              (READER_A, GRAND), (MEMBER_A, ROOT)])
def test_another_projects_usage_is_403(client, seeded, headers, project):
    response = client.get(f"{URL}?{PERIOD}&project_id={project}", headers=headers)
    assert response.status_code == 403
    assert response.json["forbidden"]["message"] == f"You are not allowed to see usage of project {project}."


def test_unscoped_and_anonymous_are_refused(client, seeded):
    assert client.get(f"{URL}?{PERIOD}", headers=auth(None, ("member",))).status_code == 403
    assert client.get(f"{URL}?{PERIOD}").status_code == 401


def test_periods_at_the_ends_of_time(client, seeded):
    early = client.get(f"{URL}?start=0001-01-01T00:00:00Z&end=0001-01-01T01:00:00Z&granularity=hour",
                       headers=ADMIN)
    assert early.status_code == 200 and early.json["accounting"]["groups"] == []
    late = client.get(f"{URL}?start=9999-12-31T22:00:00Z&end=9999-12-31T23:00:00Z&granularity=hour",
                      headers=ADMIN)
    assert late.status_code == 200 and late.json["accounting"]["groups"] == []


def test_nothing_in_the_period_gives_no_groups(client, seeded):
    response = client.get(f"{URL}?start=2026-11-02T00:00:00Z&end=2026-11-03T00:00:00Z", headers=ADMIN)
    assert response.json["accounting"]["groups"] == []


@pytest.mark.parametrize("query, words", [
    ("start=2026-11-01T00:00:00Z&end=2026-11-01T00:00:00Z", "must be after start"),
    ("start=2026-11-02T00:00:00Z&end=2026-11-01T00:00:00Z", "must be after start"),
    ("start=last-week&end=2026-11-01T00:00:00Z", "start"),
    ("start=2026-11-01T00:00:00Z&end=2026-11-31", "end"),
    ("end=2026-11-01T00:00:00Z", "start and end are required"),
    (f"{PERIOD}&granularity=week", "Invalid granularity"),
    (f"{PERIOD}&group_by=user", "Invalid group_by"),
    ("start=2026-10-01T00:00:00Z&end=2026-11-01T01:00:00Z&granularity=hour", "at most 744 hour points"),
    ("start=2023-10-01T00:00:00Z&end=2026-10-06T00:00:00Z&granularity=day", "at most 1100 day points"),
    ("start=2016-10-01T00:00:00Z&end=2026-11-01T00:00:00Z&granularity=month", "at most 120 month points"),
    (f"{PERIOD}&project_id={'p' * 65}", "project_id"),
])
def test_bad_input_is_400_with_a_message(client, seeded, query, words):
    response = client.get(f"{URL}?{query}", headers=ADMIN)
    assert response.status_code == 400, response.json
    assert words in response.json["badRequest"]["message"]


@pytest.mark.parametrize("granularity, start, end, count", [
    ("hour", "2026-10-01T00:00:00", "2026-11-01T00:00:00", 744),
    ("hour", "2026-10-01T00:30:00", "2026-10-01T01:30:00", 2),
    ("day", "2026-10-01T00:00:00", "2026-10-01T00:00:01", 1),
    ("day", "2023-10-01T00:00:00", "2026-10-05T00:00:00", 1100),
    ("month", "2016-11-01T00:00:00", "2026-11-01T00:00:00", 120),
    ("month", "2026-10-31T23:00:00", "2026-11-01T01:00:00", 2),
])
def test_points(granularity, start, end, count):
    assert accounting.points(dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end),
                             granularity, 3600.0) == count


def test_shortened_buckets_count_as_hours(client, seeded):
    assert accounting.points(dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 1, 1), "hour", 60.0) == 60


# --- the SQL on both databases --------------------------------------------------------------

@pytest.fixture(params=["sqlite", "mariadb"])
def any_db(request):
    factory = request.getfixturevalue("sqlite_db" if request.param == "sqlite" else "mariadb_db")
    made = factory("api")
    seed(made, index=False)
    return made


WINDOW = store.Window(dt.datetime(2026, 10, 31, 23, 30), dt.datetime(2026, 11, 1, 1))


@pytest.mark.parametrize("granularity, periods", [
    ("hour", [dt.datetime(2026, 10, 31, 23), dt.datetime(2026, 11, 1)]),
    ("day", [dt.datetime(2026, 10, 31), dt.datetime(2026, 11, 1)]),
    ("month", [dt.datetime(2026, 10, 1), dt.datetime(2026, 11, 1)]),
])
def test_period_sums_on_both_databases(any_db, granularity, periods):
    rows = store.period_sums(any_db, WINDOW, granularity, "project", [PROJECT_A])
    found = sorted((accounting.period_start(r.period, granularity), r.figures["vcpu_hours"]) for r in rows)
    assert found == [(periods[0], pytest.approx(0.5)), (periods[1], pytest.approx(1.0))]
    flavors = store.period_sums(any_db, WINDOW, "month", "flavor", None)
    assert {(r.key, r.name) for r in flavors} == {("1", "m1.small"), ("2", "m1.large")}


def test_instance_usages_on_both_databases(any_db):
    usages = store.instance_usages(any_db, WINDOW, None, None, 10)
    assert [(u.project_id, round(u.hours, 6), round(u.memory_mb_hours, 6)) for u in usages] == [
        (PROJECT_A, 1.5, 768.0), (PROJECT_B, 0.25, 2048.0), (GRAND, 1.0, 8192.0)]
    after = store.instance_usages(any_db, WINDOW, None, usages[0].instance_id, 1)
    assert [u.project_id for u in after] == [PROJECT_B]


def test_usage_of_an_owner_not_known_yet(client, seeded):
    """Rolled up before the collector learnt the instance's project and flavor: counted, under ""."""
    from tests.unit.api.usage_data import H00, add_usage

    add_usage(seeded, "00000000-0000-4000-8000-0000000000ff", None, H00, flavor=(None, None), vcpus=2)
    for group_by in ("project", "parent", "flavor"):
        unknown = by_key(get(client, f"group_by={group_by}"))[""]
        assert unknown["name"] == "(unknown)" and unknown["totals"]["vcpu_hours"] == 2.0, group_by
    assert by_key(get(client, "group_by=cell"))["top!cell1"]["totals"]["vcpu_hours"] == 4.5
    usages = client.get(f"/v2.1/os-simple-tenant-usage?{PERIOD}", headers=ADMIN).json["tenant_usages"]
    assert {u["tenant_id"]: u["total_vcpus_usage"] for u in usages}[""] == pytest.approx(2.0)
    # Nobody's own usage.
    assert "" not in by_key(get(client, "group_by=project", MEMBER_A))
