"""POST /servers: validation, flavor and image checks, the index row and the scheduler cast."""

from __future__ import annotations

from typing import Any

import pytest

from api.app import create_app
from tests.unit.api.conftest import (
    IMAGE,
    MEMBER_A,
    PROJECT_A,
    PUBLIC_URL,
    READER_A,
    auth,
    index_count,
    index_row,
)


def boot(client, headers: dict[str, str] | None = None, **server: Any):
    body = {"server": {"name": "web", "imageRef": IMAGE, "flavorRef": "1", **server}}
    return client.post("/v2.1/servers", headers=headers or MEMBER_A, json=body)


def test_boot_writes_the_index_and_casts_to_the_scheduler(client, db, flavors, recorders, images):
    response = boot(client, metadata={"role": "web"}, key_name="mykey", availability_zone="az1",
                    networks="auto", user_data="aGVsbG8=")
    assert response.status_code == 202, response.json
    server = response.json["server"]
    uuid = server["id"]
    assert response.headers["Location"] == f"{PUBLIC_URL}/v2.1/servers/{uuid}"
    assert server["links"][0] == {"rel": "self", "href": f"{PUBLIC_URL}/v2.1/servers/{uuid}"}
    assert len(server["adminPass"]) == 12
    assert server["OS-DCF:diskConfig"] == "MANUAL"
    assert server["security_groups"] == [{"name": "default"}]

    row = index_row(db, uuid)
    assert (row["vm_state"], row["task_state"], row["version"], row["cell_path"]) == \
        ("building", "scheduling", 0, None)
    assert (row["project_id"], row["user_id"], row["name"], row["key_name"]) == \
        (PROJECT_A, "u-alice", "web", "mykey")
    assert row["flavor"]["id"] == "1" and row["metadata"] == {"role": "web"}

    method, ctxt, args = recorders["scheduler"].next()
    assert method == "schedule_instances"
    assert ctxt.project_id == PROJECT_A and ctxt.request_id == response.headers["x-openstack-request-id"]
    (request,) = args["requests"]
    assert request["instance"] == {
        "uuid": uuid, "project_id": PROJECT_A, "user_id": "u-alice", "name": "web",
        "flavor": {"id": "1", "name": "m1.small", "vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0,
                   "swap": 0, "extra_specs": {}},
        "image_ref": IMAGE, "key_name": "mykey", "metadata": {"role": "web"},
        "availability_zone": "az1"}
    assert request["image"] == {"id": IMAGE, "name": "cirros", "disk_format": "qcow2",
                                "container_format": "bare", "min_disk": 0, "min_ram": 0,
                                "size": 16 * 2**20, "checksum": "abc",
                                "os_hash_algo": "sha512", "os_hash_value": "f" * 128,
                                "properties": {"os_distro": "cirros"}}
    # The image was looked up with the caller's own token.
    assert images.calls == [(IMAGE, PROJECT_A, MEMBER_A["X-Auth-Token"])]


def test_boot_by_links_and_many_at_once(client, db, flavors, recorders):
    response = boot(client, imageRef=f"http://images/v2/images/{IMAGE}",
                    flavorRef=f"{PUBLIC_URL}/flavors/2", min_count=3, max_count="3", adminPass="s3cret")
    assert response.status_code == 202, response.json
    assert response.json["server"]["adminPass"] == "s3cret"
    _, _, args = recorders["scheduler"].next()
    names = sorted(r["instance"]["name"] for r in args["requests"])
    assert names == ["web-1", "web-2", "web-3"]
    assert {r["instance"]["flavor"]["id"] for r in args["requests"]} == {"2"}
    assert index_count(db) == 3


def test_boot_costs_one_insert_in_steady_state(client, flavors, recorders, count_sql):
    assert boot(client).status_code == 202  # warms the flavor cache
    with count_sql() as counter:
        assert boot(client).status_code == 202
    assert counter.statements == ["INSERT"]


@pytest.mark.parametrize("server, message", [
    ({"flavorRef": "99"}, "Invalid flavorRef provided."),
    ({"flavorRef": "3"}, "Invalid flavorRef provided."),  # private
    ({"imageRef": "00000000-0000-0000-0000-000000000000"},
     "Image 00000000-0000-0000-0000-000000000000 could not be found."),
    ({"imageRef": "queued-image"}, "Image queued-image is not active."),
    ({"imageRef": "big-image"}, "Flavor's disk is too small for requested image."),
    ({"imageRef": "hungry-image"}, "Flavor's memory is too small for requested image."),
    ({"imageRef": "huge-file"}, "Flavor's disk is too small for requested image."),
    ({"imageRef": "x/../.."}, "Invalid imageRef provided."),
    ({"name": ""}, "name"),
    ({"name": 42}, "name"),
    ({"name": " padded"}, "name"),
    ({"flavorRef": None}, "flavorRef"),
    ({"metadata": {"k": 1}}, "metadata"),
    ({"metadata": ["k"]}, "metadata"),
    ({"min_count": 0}, "min_count"),
    ({"max_count": 101}, "max_count"),
    ({"min_count": 3, "max_count": 2}, "min_count must be <= max_count"),
    ({"networks": "everything"}, "networks"),
    ({"user_data": "not base64!"}, "user_data"),
    ({"colour": "red"}, "colour"),
])
def test_bad_boots_are_400_and_leave_nothing(client, db, flavors, images, recorders, server, message):
    images.add("queued-image", status="queued")
    images.add("big-image", min_disk=10)
    images.add("hungry-image", min_ram=4096)
    images.add("huge-file", size=5 * 2**30)
    response = boot(client, **server)
    assert response.status_code == 400, response.json
    assert message in response.json["badRequest"]["message"]
    assert index_count(db) == 0
    recorders["scheduler"].assert_silent(0.05)


@pytest.mark.parametrize("body", [
    {}, {"server": None}, {"server": {"name": "x", "flavorRef": "1"}},
    {"server": {"name": "x", "imageRef": IMAGE}}, {"servers": {}}, [], "text",
])
def test_missing_fields_and_wrong_shapes(client, db, flavors, body):
    response = client.post("/v2.1/servers", headers=MEMBER_A, json=body)
    assert response.status_code == 400 and "badRequest" in response.json
    assert index_count(db) == 0


def test_malformed_json_and_content_type(client, db, flavors):
    for data, ctype in (("{", "application/json"), ("", "application/json"),
                        ("name=x", "application/x-www-form-urlencoded"), ("\xff", "application/json")):
        response = client.post("/v2.1/servers", headers={**MEMBER_A, "Content-Type": ctype}, data=data)
        assert response.status_code == 400, (data, ctype)
    assert index_count(db) == 0


def test_admin_pass_is_not_echoed_in_errors(client, flavors):
    response = boot(client, adminPass=["s3cret-value"])
    assert response.status_code == 400
    assert "s3cret-value" not in response.get_data(as_text=True)


def test_reader_cannot_boot(client, db, flavors):
    response = boot(client, READER_A)
    assert response.status_code == 403 and "forbidden" in response.json
    assert index_count(db) == 0


class BrokenScheduler:
    def schedule_instances(self, ctxt: Any, requests: list[dict[str, Any]]) -> None:
        raise ConnectionError("broker down")


def test_failed_cast_takes_the_rows_back(conf, db, verifier, images, flavors):
    app = create_app(conf, db, verifier=verifier, image_lookup=images,
                     scheduler_api=BrokenScheduler(), cells_api=object())
    response = boot(app.test_client(), min_count=2, max_count=2)
    assert response.status_code == 503 and "serviceUnavailable" in response.json
    assert index_count(db) == 0


def test_unscoped_admin_cannot_boot(client, db, flavors):
    response = boot(client, auth(None, ("admin",)))
    assert response.status_code == 403 and "project-scoped" in response.json["forbidden"]["message"]
    assert index_count(db) == 0
