"""Cell-local identity in a running cloud: a compute cell's identity serves its service accounts only,
its tokens are for that cell, and the API cell's user tokens are refused inside the cell."""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.integration

CELL1 = 1  # port offset of cell1's endpoints relative to the API cell's


def login(identity: str, user: str, password: str, project: str) -> requests.Response:
    return requests.post(f"{identity}/v3/auth/tokens", timeout=30, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}})


def endpoints(cloud, cell: int) -> dict[str, str]:
    offset = cloud.port_offset + cell
    return {"identity": f"http://127.0.0.1:{5000 + offset}",
            "images": f"http://127.0.0.1:{9292 + offset}",
            "compute": f"http://127.0.0.1:{8774 + offset}"}


def cell_token(cloud) -> str:
    password = (cloud.state_dir / "secrets" / "cell1-service").read_text().strip()
    response = login(endpoints(cloud, CELL1)["identity"], "cell1-service", password, "service")
    assert response.status_code == 201, response.text
    return response.headers["X-Subject-Token"]


def test_user_login_refused_by_cell_identity(embedded_cloud):
    auth = embedded_cloud.cloud("demo")["auth"]
    response = login(endpoints(embedded_cloud, CELL1)["identity"], auth["username"], auth["password"],
                     auth["project_name"])
    assert response.status_code == 401
    assert "accepts only service accounts" in response.json()["error"]["message"]


def test_user_token_refused_by_cell_endpoints(embedded_cloud):
    token = embedded_cloud.token("demo")
    cell = endpoints(embedded_cloud, CELL1)
    images = requests.get(cell["images"] + "/v2/images", headers={"X-Auth-Token": token}, timeout=30)
    assert images.status_code == 401
    assert "not trusted" in images.text or "audience" in images.text
    check = requests.get(cell["identity"] + "/v3/auth/tokens", timeout=30,
                         headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert check.status_code == 401


def test_cell_token_is_for_its_cell_and_refused_by_the_api_cell(embedded_cloud):
    token = cell_token(embedded_cloud)
    headers = {"X-Auth-Token": token}
    cell = endpoints(embedded_cloud, CELL1)
    # Accepted inside its cell.
    assert requests.get(cell["images"] + "/v2/images", headers=headers, timeout=30).status_code == 200
    # Refused by the API cell's compute API and identity, and by the other compute cell.
    top = endpoints(embedded_cloud, 0)
    servers = requests.get(top["compute"] + "/v2.1/servers", headers=headers, timeout=30)
    assert servers.status_code == 401
    check = requests.get(top["identity"] + "/v3/auth/tokens", timeout=30,
                         headers={**headers, "X-Subject-Token": token})
    assert check.status_code == 401
    rescope = requests.post(top["identity"] + "/v3/auth/tokens", timeout=30, json={"auth": {
        "identity": {"methods": ["token"], "token": {"id": token}}}})
    assert rescope.status_code == 401
    other = endpoints(embedded_cloud, 2)
    assert requests.get(other["images"] + "/v2/images", headers=headers, timeout=30).status_code == 401
    # The master image store lets a cell's cache read images, never change them.
    create = requests.post(top["images"] + "/v2/images", headers=headers, timeout=30,
                           json={"name": "x", "disk_format": "raw", "container_format": "bare"})
    assert create.status_code in (401, 403)
