"""Known image properties: bad values refused at create and patch, unknown ones kept."""

from __future__ import annotations

import pytest

from cells import image_properties
from cells.exception import BadRequest
from tests.unit.images.test_images_api import PATCH, assert_error, create


@pytest.fixture
def env(master, signer):
    app, _conf, _store = master()
    return app.test_client(), signer.headers()


@pytest.mark.parametrize("name,value", [("os_type", "beos"), ("hw_disk_bus", "nvme"),
                                        ("hw_vif_model", "virtio-net"), ("hw_firmware_type", "efi")])
def test_create_refuses_invalid_value(env, name, value):
    client, headers = env
    body = {"disk_format": "qcow2", "container_format": "bare", name: value}
    message = assert_error(client.post("/v2/images", json=body, headers=headers), 400)
    assert name in message and value in message
    assert all(v in message for v in image_properties.KNOWN[name] or ())


def test_create_refuses_wrong_type(env):
    client, headers = env
    body = {"disk_format": "qcow2", "container_format": "bare", "hw_disk_bus": 3}
    assert "hw_disk_bus" in assert_error(client.post("/v2/images", json=body, headers=headers), 400)


def test_create_accepts_valid_and_unknown(env):
    client, headers = env
    img = create(client, headers, os_type="windows", hw_disk_bus="sata", hw_vif_model="e1000",
                 hw_firmware_type="uefi", os_distro="windows", hw_whatever="anything")
    assert (img["os_type"], img["hw_disk_bus"], img["hw_whatever"]) == ("windows", "sata", "anything")


def test_patch_refuses_invalid_value_and_changes_nothing(env):
    client, headers = env
    img = create(client, headers, hw_disk_bus="virtio")
    url, patch_headers = f"/v2/images/{img['id']}", {**headers, "Content-Type": PATCH}
    for ops in ([{"op": "replace", "path": "/hw_disk_bus", "value": "floppy"}],
                [{"op": "add", "path": "/hw_firmware_type", "value": "coreboot"}],
                [{"op": "add", "path": "/os_type", "value": 7}]):
        message = assert_error(client.patch(url, headers=patch_headers, json=ops), 400)
        assert ops[0]["path"][1:] in message
    body = client.get(url, headers=headers).get_json()
    assert body["hw_disk_bus"] == "virtio" and "hw_firmware_type" not in body


def test_patch_accepts_valid_and_unknown(env):
    client, headers = env
    img = create(client, headers)
    ops = [{"op": "add", "path": "/hw_vif_model", "value": "rtl8139"},
           {"op": "add", "path": "/my_prop", "value": "x"}]
    response = client.patch(f"/v2/images/{img['id']}", headers={**headers, "Content-Type": PATCH}, json=ops)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["hw_vif_model"] == "rtl8139" and response.get_json()["my_prop"] == "x"


def test_check_and_filter_are_pure():
    with pytest.raises(BadRequest, match="hw_firmware_type.*bios, uefi"):
        image_properties.check({"hw_firmware_type": "x"})
    image_properties.check({"unknown": 5, "os_type": "linux"})
    given = {"os_type": "windows", "hw_disk_bus": "bogus", "other": "x", "hw_vif_model": 3}
    assert image_properties.hypervisor_properties(given) == {"os_type": "windows"}
