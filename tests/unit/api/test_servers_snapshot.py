"""createImage: validation, the state table, the image created with the user's token, the route to the cell.

The image service here is the real one (a master on SQLite, served on
loopback), so its ownership rules and its project image count quota apply
to the snapshot image as they do in a cloud.
"""

from __future__ import annotations

import uuid as uuid_mod
from collections.abc import Iterator
from typing import Any

import pytest

from api.app import create_app
from api.image_lookup import HttpImageLookup
from api.snapshot_images import HttpSnapshotImages
from cells import config as config_mod
from cells import states
from cells.service import WsgiServer
from identity.key_sources import StaticKeySource
from identity.middleware import TokenVerifier
from tests.unit.api.conftest import (
    ADMIN,
    KEY,
    KID,
    MEMBER_A,
    MEMBER_B,
    PROJECT_A,
    PROJECT_B,
    READER_A,
    add_instance,
    index_row,
)
from tests.unit.api.test_servers_actions import BrokenCells, act, routed

IMAGE_QUOTA = 3


@pytest.fixture
def image_service(sqlite_db, tmp_path) -> Iterator[str]:
    """A master image service for cell 'top' on loopback; returns its URL."""
    from images.app import create_app as images_app

    conf = config_mod.parse({
        "cell": {"name": "top", "type": "api"}, "database": {"url": "sqlite:///unused"},
        "broker": {"url": "fake:///unused"},
        "images": {"listen": "127.0.0.1:0", "public_url": "http://127.0.0.1:0",
                   "store_dir": str(tmp_path / "image-store"), "default_quota": {"images": IMAGE_QUOTA}}})
    verifier = TokenVerifier(conf, key_source=StaticKeySource({KID: KEY.public_key()}))
    assert conf.images is not None
    server = WsgiServer("images", images_app(conf, db=sqlite_db("api"), verifier=verifier), conf.images)
    server.start()
    host, port = server.server.bind_addr
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def snap_client(conf, db, verifier, recorders, image_service):
    app = create_app(conf, db, verifier=verifier, image_lookup=HttpImageLookup(image_service),
                     snapshot_images=HttpSnapshotImages(image_service))
    return app.test_client()


def images_api(url: str, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> Any:
    import requests

    return requests.request(method, url + path, headers=headers, timeout=10, **kwargs)


def base_image(url: str, headers: dict[str, str] = MEMBER_A, **fields: Any) -> str:
    body = {"name": "base", "disk_format": "qcow2", "container_format": "bare", "visibility": "private",
            "min_disk": 0, "min_ram": 256, "os_distro": "debian", "os_type": "linux",
            "hw_disk_bus": "scsi", "hw_vif_model": "e1000", "secret_sauce": "not inherited", **fields}
    created = images_api(url, "POST", "/v2/images", headers, json=body)
    assert created.status_code == 201, created.text
    image_id = created.json()["id"]
    put = images_api(url, "PUT", f"/v2/images/{image_id}/file", {**headers,
                     "Content-Type": "application/octet-stream"}, data=b"base disk data")
    assert put.status_code == 204, put.text
    return str(image_id)


def snapshot(client, server: str, headers: dict[str, str] = MEMBER_A, **args: Any):
    return act(client, server, {"createImage": {"name": "snap", **args}}, headers)


def test_snapshot_creates_the_image_and_routes_the_action(snap_client, db, recorders, image_service):
    base = base_image(image_service)
    server = add_instance(db, image_ref=base, cell_path="top!cell2")
    response = snapshot(snap_client, server, metadata={"purpose": "backup", "hw_disk_bus": "virtio"})
    assert response.status_code == 202, response.json
    image_id = response.json["image_id"]
    assert response.headers["Location"] == f"{image_service}/v2/images/{image_id}"
    assert index_row(db, server)["task_state"] == states.IMAGE_SNAPSHOT
    ctxt, envelope = routed(recorders)
    assert envelope["target_path"] == "top!cell2" and ctxt.user_id == "u-alice"
    assert envelope["args"] == {"uuid": server, "action": "snapshot",
                                "kwargs": {"image_id": image_id, "disk_format": "qcow2"}}

    image = images_api(image_service, "GET", f"/v2/images/{image_id}", MEMBER_A).json()
    assert (image["status"], image["owner"], image["visibility"]) == ("queued", PROJECT_A, "private")
    assert (image["disk_format"], image["container_format"]) == ("qcow2", "bare")
    assert (image["min_disk"], image["min_ram"]) == (1, 256)  # the flavor's disk, the base's RAM
    assert (image["image_type"], image["instance_uuid"], image["instance_cell"]) == (
        "snapshot", server, "top!cell2")
    assert (image["base_image_ref"], image["user_id"]) == (base, "u-alice")
    assert (image["os_distro"], image["os_type"], image["hw_vif_model"]) == ("debian", "linux", "e1000")
    assert image["hw_disk_bus"] == "virtio" and image["purpose"] == "backup"  # the user's metadata wins
    assert "secret_sauce" not in image
    # Another project sees nothing of it.
    assert images_api(image_service, "GET", f"/v2/images/{image_id}", MEMBER_B).status_code == 404


def test_stopped_server_of_a_raw_base_and_a_base_that_is_gone(snap_client, db, recorders, image_service):
    raw = base_image(image_service, disk_format="raw", min_disk=5)
    server = add_instance(db, vm_state="stopped", image_ref=raw)
    response = snapshot(snap_client, server)
    assert response.status_code == 202
    image = images_api(image_service, "GET", f"/v2/images/{response.json['image_id']}", MEMBER_A).json()
    assert (image["disk_format"], image["min_disk"]) == ("raw", 5)
    assert routed(recorders)[1]["args"]["kwargs"]["disk_format"] == "raw"

    orphan = add_instance(db, image_ref=str(uuid_mod.uuid4()))
    response = snapshot(snap_client, orphan)
    assert response.status_code == 202
    image = images_api(image_service, "GET", f"/v2/images/{response.json['image_id']}", MEMBER_A).json()
    assert (image["disk_format"], image["min_disk"], image["min_ram"]) == ("qcow2", 1, 0)
    assert "os_distro" not in image


def test_admin_snapshots_another_projects_server_into_that_project(snap_client, db, recorders, image_service):
    server = add_instance(db, PROJECT_B, image_ref=base_image(image_service, visibility="public",
                                                              headers=ADMIN))
    response = snapshot(snap_client, server, ADMIN)
    assert response.status_code == 202, response.json
    image_id = response.json["image_id"]
    image = images_api(image_service, "GET", f"/v2/images/{image_id}", MEMBER_B).json()
    assert image["owner"] == PROJECT_B and image["user_id"] == "u-admin"


def _image_count(url: str) -> int:
    return len(images_api(url, "GET", "/v2/images", MEMBER_A).json()["images"])


def test_refused_states_create_no_image(snap_client, db, recorders, image_service):
    for vm_state in states.VM_STATES[:-1]:
        for task_state in states.TASK_STATES:
            try:
                states.begin_action(states.State(vm_state, task_state), "snapshot")
                continue
            except states.InvalidState:
                pass
            server = add_instance(db, vm_state=vm_state, task_state=task_state)
            response = snapshot(snap_client, server)
            assert response.status_code == 409, (vm_state, task_state)
            assert response.json["conflictingRequest"]["message"].startswith(
                f"Cannot 'createImage' instance while it is in vm_state {vm_state}")
            assert index_row(db, server)["task_state"] == task_state
    unplaced = add_instance(db, vm_state="active", cell_path=None, host=None)
    assert snapshot(snap_client, unplaced).status_code == 409
    assert _image_count(image_service) == 0
    recorders["cells"].assert_silent(0.05)


@pytest.mark.parametrize("args", [
    {"name": ""}, {"name": " padded"}, {"name": "x" * 256}, {"name": 7},
    {"metadata": {"k": 1}}, {"metadata": {"bad/key": "v"}}, {"metadata": {"k": "v" * 256}},
    {"metadata": {f"k{i}": "v" for i in range(129)}}, {"metadata": []}, {"force": True},
    {"metadata": {"image_type": "not-a-snapshot"}}, {"metadata": {"instance_cell": "top!cell2"}},
    {"metadata": {"visibility": "public"}}, {"metadata": {"owner": PROJECT_B}},
])
def test_bad_bodies_are_400(snap_client, db, recorders, image_service, args):
    server = add_instance(db)
    response = snapshot(snap_client, server, **args)
    assert response.status_code == 400, response.json
    assert "badRequest" in response.json
    missing = act(snap_client, server, {"createImage": {"metadata": {}}})
    assert missing.status_code == 400
    assert index_row(db, server)["task_state"] is None
    assert _image_count(image_service) == 0


def test_metadata_at_the_limits_is_accepted(snap_client, db, recorders, image_service):
    server = add_instance(db)
    metadata = {f"key-{i}": "v" * 255 for i in range(128)}
    response = snapshot(snap_client, server, name="n" * 255, metadata=metadata)
    assert response.status_code == 202, response.json


def test_owner_checks(snap_client, db, recorders, image_service):
    server = add_instance(db)
    assert snapshot(snap_client, server, READER_A).status_code == 403
    assert snapshot(snap_client, server, MEMBER_B).status_code == 404
    assert snapshot(snap_client, str(uuid_mod.uuid4())).status_code == 404
    assert index_row(db, server)["task_state"] is None
    assert _image_count(image_service) == 0


def test_the_projects_image_count_quota_applies(snap_client, db, recorders, image_service):
    for _ in range(IMAGE_QUOTA):
        server = add_instance(db)
        assert snapshot(snap_client, server).status_code == 202
        routed(recorders)
    server = add_instance(db)
    response = snapshot(snap_client, server)
    assert response.status_code == 403, response.json
    assert "Image count quota exceeded" in response.json["forbidden"]["message"]
    assert index_row(db, server)["task_state"] is None
    recorders["cells"].assert_silent(0.05)


def test_an_unroutable_snapshot_deletes_its_image(conf, db, verifier, image_service):
    app = create_app(conf, db, verifier=verifier, image_lookup=HttpImageLookup(image_service),
                     scheduler_api=object(), cells_api=BrokenCells(),
                     snapshot_images=HttpSnapshotImages(image_service))
    server = add_instance(db)
    response = snapshot(app.test_client(), server)
    assert response.status_code == 503 and "serviceUnavailable" in response.json
    assert index_row(db, server)["task_state"] is None
    assert _image_count(image_service) == 0


def test_image_service_down_is_503(conf, db, verifier, images, recorders):
    app = create_app(conf, db, verifier=verifier, image_lookup=images,
                     snapshot_images=HttpSnapshotImages("http://127.0.0.1:1"))
    server = add_instance(db)
    response = snapshot(app.test_client(), server)
    assert response.status_code == 503
    assert index_row(db, server)["task_state"] is None
    recorders["cells"].assert_silent(0.05)
