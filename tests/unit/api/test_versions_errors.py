"""Version discovery, microversions, request ids and the error format."""

from __future__ import annotations

from tests.unit.api.conftest import ADMIN, MEMBER_A, PROJECT_A, PUBLIC_URL, auth


def test_root_lists_v21_without_a_token(client):
    response = client.get("/")
    assert response.status_code == 200
    (version,) = response.json["versions"]
    assert (version["id"], version["status"], version["version"], version["min_version"]) == \
        ("v2.1", "CURRENT", "2.1", "2.1")
    assert version["links"] == [{"rel": "self", "href": f"{PUBLIC_URL}/v2.1/"}]


def test_v21_document_with_and_without_slash(client):
    for path in ("/v2.1", "/v2.1/"):
        response = client.get(path)
        assert response.status_code == 200, path
        doc = response.json["version"]
        assert doc["id"] == "v2.1" and doc["version"] == "2.1" and doc["min_version"] == "2.1"
        assert doc["media-types"][0]["type"] == "application/vnd.openstack.compute+json;version=2.1"


def test_request_ids_on_every_answer(client):
    for response in (client.get("/"), client.get("/v2.1/servers"),
                     client.get("/v2.1/flavors", headers=MEMBER_A)):
        rid = response.headers["x-openstack-request-id"]
        assert rid.startswith("req-") and response.headers["x-compute-request-id"] == rid
    assert client.get("/").headers["x-openstack-request-id"] != \
        client.get("/").headers["x-openstack-request-id"]


def test_microversion_headers(client):
    ok = client.get("/v2.1/flavors", headers={**MEMBER_A, "OpenStack-API-Version": "compute 2.1"})
    assert ok.status_code == 200
    assert ok.headers["OpenStack-API-Version"] == "compute 2.1"
    assert ok.headers["X-OpenStack-Nova-API-Version"] == "2.1"
    latest = client.get("/v2.1/flavors", headers={**MEMBER_A, "X-OpenStack-Nova-API-Version": "latest"})
    assert latest.status_code == 200
    other_service = client.get("/v2.1/flavors",
                               headers={**MEMBER_A, "OpenStack-API-Version": "image 2.9"})
    assert other_service.status_code == 200
    too_new = client.get("/v2.1/flavors", headers={**MEMBER_A, "OpenStack-API-Version": "compute 2.60"})
    assert too_new.status_code == 406
    assert "maximum is 2.1" in too_new.json["computeFault"]["message"]
    garbage = client.get("/v2.1/flavors", headers={**MEMBER_A, "X-OpenStack-Nova-API-Version": "two"})
    assert garbage.status_code == 400 and "invalid format" in garbage.json["badRequest"]["message"]


def test_no_token_is_401_in_compute_format(client):
    response = client.get("/v2.1/servers")
    assert response.status_code == 401
    assert response.json["unauthorized"]["code"] == 401
    assert "WWW-Authenticate" in response.headers


def test_expired_tampered_and_foreign_tokens_are_401(client):
    expired = auth(expires_in=-3600)
    assert client.get("/v2.1/servers", headers=expired).status_code == 401
    good = auth()["X-Auth-Token"]
    header, payload, signature = good.split(".")
    tampered = f"{header}.{payload}.{'A' * len(signature)}"
    assert client.get("/v2.1/servers", headers={"X-Auth-Token": tampered}).status_code == 401
    other_cell = auth(aud="top!cell1")
    response = client.get("/v2.1/servers", headers=other_cell)
    assert response.status_code == 401 and "audience" in response.json["unauthorized"]["message"]


def test_unknown_route_and_wrong_method(client):
    missing = client.get("/v2.1/no-such-thing", headers=MEMBER_A)
    assert missing.status_code == 404 and missing.json["itemNotFound"]["code"] == 404
    wrong = client.put("/v2.1/flavors", headers=MEMBER_A, json={})
    assert wrong.status_code == 405 and wrong.json["badMethod"]["code"] == 405
    assert "GET" in wrong.headers["Allow"]
    outside = client.get("/nothing-here", headers=MEMBER_A)
    assert outside.status_code == 404 and "itemNotFound" in outside.json


def test_project_id_in_url(client, flavors):
    response = client.get(f"/v2.1/{PROJECT_A}/flavors/1", headers=MEMBER_A)
    assert response.status_code == 200
    assert response.json["flavor"]["links"][0]["href"] == f"{PUBLIC_URL}/v2.1/{PROJECT_A}/flavors/1"
    mismatch = client.get(f"/v2.1/{PROJECT_A}/flavors/1", headers=ADMIN)
    assert mismatch.status_code == 400 and "Malformed request URL" in mismatch.json["badRequest"]["message"]
