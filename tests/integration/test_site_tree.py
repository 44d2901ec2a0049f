"""A three-level cell tree (top > site1 > cell1, cell2): boots and actions route through the site."""

from __future__ import annotations

import pytest
import requests

from tests.integration.conftest import start_cloud, stop_cloud, wait_status

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def site_cloud(tmp_path_factory):
    cloud = start_cloud(tmp_path_factory.mktemp("site"), 450, ["--site"])
    yield cloud
    stop_cloud(cloud.process)


def test_boot_stop_start_delete_through_a_site_cell(site_cloud):
    admin = requests.Session()
    admin.headers["X-Auth-Token"] = site_cloud.token("admin")
    image = admin.get(site_cloud.image_url + "/v2/images", params={"name": "tiny"}).json()
    ids = []
    for i in range(4):
        resp = admin.post(site_cloud.compute_url + "/servers", json={"server": {
            "name": f"deep-{i}", "flavorRef": "1", "imageRef": image["images"][0]["id"]}})
        assert resp.status_code == 202, resp.text
        ids.append(resp.json()["server"]["id"])
    hosts = set()
    for server_id in ids:
        server = wait_status(admin, f"{site_cloud.compute_url}/servers/{server_id}", {"ACTIVE"})
        hosts.add(server["OS-EXT-SRV-ATTR:host"].split("-")[0])
    assert hosts == {"cell1", "cell2"}
    url = f"{site_cloud.compute_url}/servers/{ids[0]}"
    assert admin.post(url + "/action", json={"os-stop": None}).status_code == 202
    wait_status(admin, url, {"SHUTOFF"})
    assert admin.post(url + "/action", json={"os-start": None}).status_code == 202
    wait_status(admin, url, {"ACTIVE"})
    cells = {c["path"] for c in admin.get(site_cloud.compute_url + "/os-cells").json()["cells"]}
    assert {"top!site1", "top!site1!cell1", "top!site1!cell2"} <= cells
    for server_id in ids:
        assert admin.delete(f"{site_cloud.compute_url}/servers/{server_id}").status_code == 204
    for server_id in ids:
        wait_status(admin, f"{site_cloud.compute_url}/servers/{server_id}", {"DELETED"})
