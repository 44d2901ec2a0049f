"""os-simple-tenant-usage: Nova's documents from the gathered rollups, pro rata at the edges,
paging, who may see what, and bad input."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.unit.api.conftest import ADMIN, MEMBER_A, MEMBER_B, PROJECT_A, PROJECT_B, READER_A
from tests.unit.api.usage_data import DB, GRAND, GRAND_VM, WEB, seed

URL = "/v2.1/os-simple-tenant-usage"
# Half of the 23:00 bucket, all of the 00:00 one.
PERIOD = "start=2026-10-31T23:30:00&end=2026-11-01T01:00:00"


@pytest.fixture
def seeded(db):
    seed(db)
    return db


def test_list_detailed_sums_each_project_pro_rata(client, seeded):
    response = client.get(f"{URL}?{PERIOD}&detailed=1", headers=ADMIN)
    assert response.status_code == 200, response.json
    usages = response.json["tenant_usages"]
    assert "tenant_usages_links" not in response.json
    assert [u["tenant_id"] for u in usages] == [PROJECT_A, PROJECT_B, GRAND]
    a, b, g = usages
    assert a["start"] == "2026-10-31T23:30:00" and a["stop"] == "2026-11-01T01:00:00"
    assert a["total_hours"] == pytest.approx(1.5)
    assert a["total_vcpus_usage"] == pytest.approx(1.5)
    assert a["total_memory_mb_usage"] == pytest.approx(768.0)
    assert a["total_local_gb_usage"] == pytest.approx(1.5)
    # B: half of its half-covered bucket is inside the period.
    assert b["total_hours"] == pytest.approx(0.25)
    assert b["total_vcpus_usage"] == pytest.approx(1.0)
    assert b["total_memory_mb_usage"] == pytest.approx(2048.0)
    assert b["total_local_gb_usage"] == pytest.approx(10.0)
    assert g["total_vcpus_usage"] == pytest.approx(4.0)
    (web,) = a["server_usages"]
    assert set(web) == {"instance_id", "name", "hours", "vcpus", "memory_mb", "local_gb", "flavor",
                        "tenant_id", "started_at", "ended_at", "state", "uptime"}
    assert web["instance_id"] == WEB and web["name"] == "web" and web["state"] == "active"
    assert (web["vcpus"], web["memory_mb"], web["local_gb"], web["flavor"]) == (1, 512, 1, "m1.small")
    assert web["hours"] == pytest.approx(1.5)
    assert web["started_at"] == "2026-10-31T22:55:00" and web["ended_at"] is None
    assert web["uptime"] > 3600
    # Purged from the index: the rollups tell what it was and when it ran.
    (db_vm,) = b["server_usages"]
    assert db_vm["instance_id"] == DB and db_vm["name"] == "" and db_vm["state"] == "terminated"
    assert (db_vm["vcpus"], db_vm["memory_mb"], db_vm["local_gb"], db_vm["flavor"]) == (4, 8192, 40,
                                                                                       "m1.large")
    assert db_vm["started_at"] == "2026-10-31T23:00:00" and db_vm["ended_at"] == "2026-11-01T00:00:00"
    assert db_vm["uptime"] == 3600


def test_list_without_detail_has_no_server_usages(client, seeded):
    usages = client.get(f"{URL}?{PERIOD}", headers=ADMIN).json["tenant_usages"]
    assert len(usages) == 3 and all("server_usages" not in u for u in usages)
    assert usages[0]["total_vcpus_usage"] == pytest.approx(1.5)


def test_a_period_outside_the_buckets_counts_nothing(client, seeded):
    response = client.get(f"{URL}?start=2026-11-01T01:00:00&end=2026-11-01T05:00:00", headers=ADMIN)
    assert response.json == {"tenant_usages": []}


def test_paging_by_instance(client, seeded):
    first = client.get(f"{URL}?{PERIOD}&detailed=1&limit=2", headers=ADMIN).json
    assert [u["tenant_id"] for u in first["tenant_usages"]] == [PROJECT_A, PROJECT_B]
    (link,) = first["tenant_usages_links"]
    assert link["rel"] == "next"
    query = parse_qs(urlparse(link["href"]).query)
    assert query["marker"] == [DB] and query["limit"] == ["2"]
    second = client.get(f"{URL}?{urlparse(link['href']).query}", headers=ADMIN).json
    assert [s["instance_id"] for u in second["tenant_usages"] for s in u["server_usages"]] == [GRAND_VM]
    assert "tenant_usages_links" not in second


def test_show_own_project_as_member_and_reader(client, seeded):
    for headers in (MEMBER_A, READER_A, ADMIN):
        response = client.get(f"{URL}/{PROJECT_A}?{PERIOD}", headers=headers)
        assert response.status_code == 200, response.json
        usage = response.json["tenant_usage"]
        assert usage["tenant_id"] == PROJECT_A and usage["total_hours"] == pytest.approx(1.5)
        assert [s["instance_id"] for s in usage["server_usages"]] == [WEB]


def test_show_a_project_without_usage_is_zero(client, seeded):
    usage = client.get(f"{URL}/{PROJECT_B}?start=2026-11-01T00:00:00&end=2026-11-01T01:00:00",
                       headers=MEMBER_B).json["tenant_usage"]
    assert usage["tenant_id"] == PROJECT_B and usage["server_usages"] == []
    assert usage["total_vcpus_usage"] == 0 and usage["total_hours"] == 0


def test_the_end_is_capped_at_now(client, seeded):
    usage = client.get(f"{URL}/{PROJECT_A}?start=2026-10-31T00:00:00&end=2999-01-01T00:00:00",
                       headers=MEMBER_A).json["tenant_usage"]
    assert usage["stop"] < "2999" and usage["total_hours"] == pytest.approx(2.0)


def test_a_period_from_year_one_counts_everything(client, seeded):
    response = client.get(f"{URL}?start=0001-01-01T00:00:00&end=2026-11-02T00:00:00", headers=ADMIN)
    assert response.status_code == 200, response.json
    assert len(response.json["tenant_usages"]) == 3


def test_a_period_in_the_future_counts_nothing(client, seeded):
    usages = client.get(f"{URL}?start=2999-01-01T00:00:00&end=2999-02-01T00:00:00", headers=ADMIN)
    assert usages.status_code == 200 and usages.json == {"tenant_usages": []}


def test_another_projects_usage_is_forbidden(client, seeded):
    response = client.get(f"{URL}/{PROJECT_A}?{PERIOD}", headers=MEMBER_B)
    assert response.status_code == 403
    assert "forbidden" in response.json


def test_list_is_admin_only(client, seeded):
    for headers in (MEMBER_A, READER_A):
        response = client.get(f"{URL}?{PERIOD}", headers=headers)
        assert response.status_code == 403, response.json


@pytest.mark.parametrize("query, words", [
    ("start=2026-11-01T01:00:00&end=2026-10-31T00:00:00", "start time cannot occur after"),
    ("start=2026-11-01T01:00:00&end=2026-11-01T01:00:00", "start time cannot occur after"),
    ("start=yesterday&end=2026-11-01T01:00:00", "start"),
    ("start=2026-10-31T00:00:00&end=2026-13-01", "end"),
    (f"{PERIOD}&limit=-1", "limit"),
    (f"{PERIOD}&limit=ten", "limit"),
    (f"{PERIOD}&detailed=maybe", "detailed"),
    (f"{PERIOD}&marker={'x' * 40}", "marker"),
    ("", "start time cannot occur after"),
])
def test_bad_input_is_400_with_a_message(client, seeded, query, words):
    response = client.get(f"{URL}?{query}", headers=ADMIN)
    assert response.status_code == 400, response.json
    assert words in response.json["badRequest"]["message"]


def test_bad_tenant_id_is_400(client, seeded):
    response = client.get(f"{URL}/{'p' * 65}?{PERIOD}", headers=ADMIN)
    assert response.status_code == 400
