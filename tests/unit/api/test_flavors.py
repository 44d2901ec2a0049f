"""Flavors: listing, showing, admin-only create and delete, and the in-memory cache."""

from __future__ import annotations

import pytest

from api.flavor_cache import FlavorCache
from tests.unit.api.conftest import ADMIN, MEMBER_A, PUBLIC_URL, READER_A, add_flavor


def test_list_summary_and_detail(client, flavors):
    summary = client.get("/v2.1/flavors", headers=READER_A)
    assert summary.status_code == 200
    assert [f["id"] for f in summary.json["flavors"]] == ["1", "2"]  # the private one is hidden
    assert set(summary.json["flavors"][0]) == {"id", "name", "links"}
    detail = client.get("/v2.1/flavors/detail", headers=MEMBER_A).json["flavors"]
    large = detail[1]
    assert large == {
        "id": "2", "name": "m1.large", "ram": 8192, "vcpus": 4, "disk": 40,
        "OS-FLV-EXT-DATA:ephemeral": 0, "OS-FLV-DISABLED:disabled": False, "swap": 1024,
        "rxtx_factor": 1.0, "os-flavor-access:is_public": True,
        "links": [{"rel": "self", "href": f"{PUBLIC_URL}/v2.1/flavors/2"},
                  {"rel": "bookmark", "href": f"{PUBLIC_URL}/flavors/2"}]}
    assert detail[0]["swap"] == ""


def test_admin_sees_private_flavors_on_request(client, flavors):
    def ids(query: str, headers: dict[str, str]) -> list[str]:
        return [f["id"] for f in client.get(f"/v2.1/flavors{query}", headers=headers).json["flavors"]]

    assert ids("", ADMIN) == ["1", "2"]
    assert ids("?is_public=None", ADMIN) == ["1", "2", "3"]
    assert ids("?is_public=false", ADMIN) == ["3"]
    assert ids("?is_public=None", MEMBER_A) == ["1", "2"]
    assert client.get("/v2.1/flavors?is_public=maybe", headers=ADMIN).status_code == 400
    assert client.get("/v2.1/flavors/3", headers=MEMBER_A).status_code == 404
    assert client.get("/v2.1/flavors/3", headers=ADMIN).status_code == 200


def test_filters_sorting_and_pagination(client, flavors):
    def ids(query: str) -> list[str]:
        response = client.get(f"/v2.1/flavors/detail{query}", headers=MEMBER_A)
        assert response.status_code == 200, response.json
        return [f["id"] for f in response.json["flavors"]]

    assert ids("?minRam=1024") == ["2"]
    assert ids("?minDisk=2") == ["2"]
    assert ids("?sort_key=memory_mb&sort_dir=desc") == ["2", "1"]
    assert ids("?limit=1") == ["1"]
    assert ids("?marker=1") == ["2"]
    page = client.get("/v2.1/flavors?limit=1", headers=MEMBER_A).json
    assert page["flavors_links"][0]["rel"] == "next"
    assert "marker=1" in page["flavors_links"][0]["href"]
    for bad in ("?minRam=lots", "?limit=-1", "?limit=x", "?marker=nope", "?sort_key=evil",
                "?sort_dir=up"):
        response = client.get(f"/v2.1/flavors{bad}", headers=MEMBER_A)
        assert response.status_code == 400, bad
        assert "badRequest" in response.json


def test_show_and_extra_specs(client, flavors):
    shown = client.get("/v2.1/flavors/2", headers=READER_A)
    assert shown.status_code == 200 and shown.json["flavor"]["name"] == "m1.large"
    specs = client.get("/v2.1/flavors/2/os-extra_specs", headers=READER_A)
    assert specs.json == {"extra_specs": {"hw:cpu_policy": "dedicated"}}
    missing = client.get("/v2.1/flavors/99", headers=READER_A)
    assert missing.status_code == 404
    assert missing.json == {"itemNotFound": {"code": 404, "message": "Flavor 99 could not be found."}}


def test_create_and_delete_are_admin_only(client, flavors):
    body = {"flavor": {"name": "m1.new", "ram": 2048, "vcpus": 2, "disk": 20, "id": "10",
                       "OS-FLV-EXT-DATA:ephemeral": 5, "swap": 0, "rxtx_factor": 1.5,
                       "os-flavor-access:is_public": True}}
    for headers in (MEMBER_A, READER_A):
        refused = client.post("/v2.1/flavors", headers=headers, json=body)
        assert refused.status_code == 403 and "forbidden" in refused.json
        assert client.delete("/v2.1/flavors/1", headers=headers).status_code == 403
    created = client.post("/v2.1/flavors", headers=ADMIN, json=body)
    assert created.status_code == 200, created.json
    assert created.json["flavor"]["id"] == "10"
    assert created.json["flavor"]["OS-FLV-EXT-DATA:ephemeral"] == 5
    # Visible at once to this process despite the cache.
    assert client.get("/v2.1/flavors/10", headers=MEMBER_A).json["flavor"]["ram"] == 2048
    assert client.delete("/v2.1/flavors/10", headers=ADMIN).status_code == 202
    assert client.get("/v2.1/flavors/10", headers=MEMBER_A).status_code == 404
    assert client.delete("/v2.1/flavors/10", headers=ADMIN).status_code == 404


def test_create_generates_an_id_and_refuses_duplicates(client, flavors):
    generated = client.post("/v2.1/flavors", headers=ADMIN,
                            json={"flavor": {"name": "auto", "ram": "512", "vcpus": 1, "disk": 0,
                                             "id": None}})
    assert generated.status_code == 200, generated.json
    assert len(generated.json["flavor"]["id"]) == 36
    same_name = client.post("/v2.1/flavors", headers=ADMIN,
                            json={"flavor": {"name": "m1.small", "ram": 1, "vcpus": 1, "disk": 0}})
    assert same_name.status_code == 409
    assert "name m1.small already exists" in same_name.json["conflictingRequest"]["message"]
    same_id = client.post("/v2.1/flavors", headers=ADMIN,
                          json={"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "id": "1"}})
    assert same_id.status_code == 409
    assert "ID 1 already exists" in same_id.json["conflictingRequest"]["message"]


@pytest.mark.parametrize("flavor", [
    {"ram": 1, "vcpus": 1, "disk": 0},
    {"name": "x", "ram": 0, "vcpus": 1, "disk": 0},
    {"name": "x", "ram": "many", "vcpus": 1, "disk": 0},
    {"name": "x", "ram": 1, "vcpus": 1, "disk": -1},
    {"name": " x", "ram": 1, "vcpus": 1, "disk": 0},
    {"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "colour": "red"},
    {"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "id": "bad/id"},
])
def test_create_rejects_bad_bodies(client, flavors, flavor):
    response = client.post("/v2.1/flavors", headers=ADMIN, json={"flavor": flavor})
    assert response.status_code == 400
    assert response.json["badRequest"]["message"].startswith("Invalid input for field/attribute")


def test_malformed_and_non_json_bodies(client):
    bad_json = client.post("/v2.1/flavors", headers={**ADMIN, "Content-Type": "application/json"},
                           data="{not json")
    assert bad_json.status_code == 400 and "Malformed" in bad_json.json["badRequest"]["message"]
    form = client.post("/v2.1/flavors", headers=ADMIN, data={"name": "x"})
    assert form.status_code == 400 and "Content-Type" in form.json["badRequest"]["message"]
    too_big = client.post("/v2.1/flavors", headers=ADMIN, json={"flavor": {"name": "x" * 200000}})
    assert too_big.status_code == 413 and "overLimit" in too_big.json


def test_flavor_reads_come_from_memory(client, flavors, count_sql):
    client.get("/v2.1/flavors", headers=MEMBER_A)  # warm the cache
    with count_sql() as counter:
        for path in ("/v2.1/flavors", "/v2.1/flavors/detail", "/v2.1/flavors/1"):
            assert client.get(path, headers=MEMBER_A).status_code == 200
    assert counter.statements == []


def test_cache_reloads_after_ttl_and_on_rate_limited_misses(db, flavors, count_sql):
    now = [0.0]
    cache = FlavorCache(db, ttl=10.0, miss_gap=1.0, clock=lambda: now[0])
    assert [f["flavorid"] for f in cache.all()] == ["1", "2", "3"]
    add_flavor(db, "20", "made-by-another-process")
    with count_sql() as counter:
        assert cache.get("20") is None  # loaded just now: a miss does not reload yet
        now[0] = 0.5
        assert cache.get("nope") is None
    assert counter.statements == []
    now[0] = 1.5
    assert cache.get("20")["name"] == "made-by-another-process"
    with count_sql() as counter:
        for _ in range(5):
            assert cache.get("still-nope") is None
            assert cache.get("1") is not None
    assert counter.statements == []
    now[0] = 12.0
    with count_sql() as counter:
        cache.all()
    assert counter.statements == ["SELECT"]
