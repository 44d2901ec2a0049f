"""A compute cell's cell-local Compute API in a running cloud: a server booted through the API cell
is listed by its compute cell's cloud-api to the cell's service account, and to no one else."""

from __future__ import annotations

import pytest
import requests

from tests.integration.conftest import wait_status
from tests.integration.test_cell_identity import endpoints, login

pytestmark = pytest.mark.integration


def service_token(cloud, cell: int) -> str:
    user = f"cell{cell}-service"
    password = (cloud.state_dir / "secrets" / user).read_text().strip()
    response = login(endpoints(cloud, cell)["identity"], user, password, "service")
    assert response.status_code == 201, response.text
    return response.headers["X-Subject-Token"]


def test_server_booted_through_the_api_cell_is_listed_by_its_cell(embedded_cloud):
    demo = requests.Session()
    demo.headers["X-Auth-Token"] = embedded_cloud.token("demo")
    image = demo.get(embedded_cloud.image_url + "/v2/images", params={"name": "tiny"}, timeout=30)
    resp = demo.post(embedded_cloud.compute_url + "/servers", timeout=30, json={"server": {
        "name": "cell-local", "flavorRef": "1", "imageRef": image.json()["images"][0]["id"]}})
    assert resp.status_code == 202, resp.text
    server_id = resp.json()["server"]["id"]
    admin = requests.Session()
    admin.headers["X-Auth-Token"] = embedded_cloud.token("admin")
    shown = wait_status(admin, f"{embedded_cloud.compute_url}/servers/{server_id}", {"ACTIVE"})
    cell = int(shown["OS-EXT-SRV-ATTR:host"].split("-")[0].removeprefix("cell"))
    local = endpoints(embedded_cloud, cell)["compute"] + "/v2.1"
    other = endpoints(embedded_cloud, 3 - cell)["compute"] + "/v2.1"

    headers = {"X-Auth-Token": service_token(embedded_cloud, cell)}
    listed = requests.get(local + "/servers/detail", headers=headers, timeout=30)
    assert listed.status_code == 200, listed.text
    mine = [s for s in listed.json()["servers"] if s["id"] == server_id]
    assert len(mine) == 1
    assert (mine[0]["status"], mine[0]["tenant_id"]) == ("ACTIVE", shown["tenant_id"])
    assert mine[0]["OS-EXT-SRV-ATTR:host"] == shown["OS-EXT-SRV-ATTR:host"]
    flavors = requests.get(local + "/flavors", headers=headers, timeout=30).json()["flavors"]
    assert "1" in {f["id"] for f in flavors}
    hypervisors = requests.get(local + "/os-hypervisors", headers=headers, timeout=30)
    assert hypervisors.status_code == 200 and hypervisors.json()["hypervisors"]

    # The other cell does not hold it, and refuses this cell's token anyway.
    assert requests.get(f"{other}/servers/{server_id}", headers=headers, timeout=30).status_code == 401
    # Users go through the API cell; writes are refused.
    user = requests.get(local + "/servers", headers=dict(demo.headers), timeout=30)
    assert user.status_code in (401, 403)
    delete = requests.delete(f"{local}/servers/{server_id}", headers=headers, timeout=30)
    assert delete.status_code == 405
    assert admin.delete(f"{embedded_cloud.compute_url}/servers/{server_id}", timeout=30).status_code == 204
