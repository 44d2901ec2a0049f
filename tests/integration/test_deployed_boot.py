"""Boot, act on and delete servers through the REST API of a deployed cloud.

Real processes (one per daemon per cell), MariaDB and RabbitMQ, two compute cells.
"""

from __future__ import annotations

import time
import uuid

import jwt
import pytest
import requests

from tests.integration.conftest import wait_status

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo(deployed_cloud):
    session = requests.Session()
    session.headers["X-Auth-Token"] = deployed_cloud.token("demo")
    return session


@pytest.fixture(scope="module")
def admin(deployed_cloud):
    session = requests.Session()
    session.headers["X-Auth-Token"] = deployed_cloud.token("admin")
    return session


def _image_id(cloud, session) -> str:
    resp = session.get(cloud.image_url + "/v2/images", params={"name": "tiny"}, timeout=10)
    resp.raise_for_status()
    return resp.json()["images"][0]["id"]


def _create(cloud, session, name="vm", flavor="1", **extra) -> requests.Response:
    body = {"server": {"name": name, "flavorRef": flavor, "imageRef": _image_id(cloud, session)}
            | extra}
    return session.post(cloud.compute_url + "/servers", json=body, timeout=30)


def _count(cloud, session) -> int:
    return len(session.get(cloud.compute_url + "/servers", timeout=10).json()["servers"])


def test_boot_act_delete(deployed_cloud, demo):
    resp = _create(deployed_cloud, demo, name="life")
    assert resp.status_code == 202, resp.text
    server_id = resp.json()["server"]["id"]
    url = f"{deployed_cloud.compute_url}/servers/{server_id}"
    server = wait_status(demo, url, {"ACTIVE"})
    assert server["OS-EXT-STS:vm_state"] == "active"
    assert server["tenant_id"] and server["hostId"]

    assert demo.post(url + "/action", json={"os-stop": None}).status_code == 202
    wait_status(demo, url, {"SHUTOFF"})
    conflict = demo.post(url + "/action", json={"os-stop": None})
    assert conflict.status_code == 409 and "conflictingRequest" in conflict.json()
    assert demo.post(url + "/action", json={"os-start": None}).status_code == 202
    wait_status(demo, url, {"ACTIVE"})
    assert demo.post(url + "/action", json={"reboot": {"type": "SOFT"}}).status_code == 202
    wait_status(demo, url, {"ACTIVE"})
    assert demo.post(url + "/action", json={"reboot": {"type": "HARD"}}).status_code == 202
    wait_status(demo, url, {"ACTIVE"})

    assert demo.delete(url).status_code == 204
    wait_status(demo, url, {"DELETED"})


def _wait_cells_report_hosts(cloud, admin, timeout: float = 120) -> None:
    """Both compute cells have reported hosts up to the API cell (on a loaded machine the
    first capacity reports can come after the cloud says it is ready)."""
    deadline = time.monotonic() + timeout
    while True:
        cells = admin.get(cloud.compute_url + "/os-cells").json()["cells"]
        up = {c["path"] for c in cells if c["hosts_up"] > 0}
        if {"top!cell1", "top!cell2"} <= up:
            # The API cell's scheduler reads the reports every scheduler.refresh_interval (5 s):
            # a report seen here may not be in its view yet.
            time.sleep(6)
            return
        assert time.monotonic() < deadline, f"cells with hosts up: {sorted(up)}"
        time.sleep(0.5)


def test_boots_spread_over_both_cells(deployed_cloud, demo, admin):
    _wait_cells_report_hosts(deployed_cloud, admin)
    ids = []
    for i in range(8):
        resp = _create(deployed_cloud, demo, name=f"spread-{i}")
        assert resp.status_code == 202, resp.text
        ids.append(resp.json()["server"]["id"])
    hosts = set()
    for server_id in ids:
        url = f"{deployed_cloud.compute_url}/servers/{server_id}"
        server = wait_status(admin, url, {"ACTIVE"})
        hosts.add(server["OS-EXT-SRV-ATTR:host"])
    cells = {h.split("-")[0] for h in hosts}
    assert cells == {"cell1", "cell2"}, hosts
    detail = demo.get(deployed_cloud.compute_url + "/servers/detail", params={"limit": 3}).json()
    assert len(detail["servers"]) == 3 and detail["servers_links"][0]["rel"] == "next"
    for server_id in ids:
        assert demo.delete(f"{deployed_cloud.compute_url}/servers/{server_id}").status_code == 204
    for server_id in ids:
        wait_status(demo, f"{deployed_cloud.compute_url}/servers/{server_id}", {"DELETED"})


def test_other_projects_server_is_404(deployed_cloud, demo, admin):
    resp = _create(deployed_cloud, admin, name="admins")
    assert resp.status_code == 202, resp.text
    url = f"{deployed_cloud.compute_url}/servers/{resp.json()['server']['id']}"
    assert demo.get(url).status_code == 404
    assert demo.delete(url).status_code == 404
    assert demo.post(url + "/action", json={"os-stop": None}).status_code == 404
    ids = [s["id"] for s in demo.get(deployed_cloud.compute_url + "/servers").json()["servers"]]
    assert url.rsplit("/", 1)[1] not in ids
    wait_status(admin, url, {"ACTIVE"})
    assert admin.delete(url).status_code == 204
    wait_status(admin, url, {"DELETED"})


@pytest.mark.parametrize("body, code", [
    (b"{not json", 400),
    ({"server": {"name": "x", "flavorRef": "no-such-flavor", "imageRef": "IMAGE"}}, 400),
    ({"server": {"name": "x", "flavorRef": "1", "imageRef": str(uuid.uuid4())}}, 400),
    ({"server": {"flavorRef": "1", "imageRef": "IMAGE"}}, 400),
    ({"server": {"name": 42, "flavorRef": "1", "imageRef": "IMAGE"}}, 400),
    ({"server": {"name": "x", "flavorRef": "1", "imageRef": "IMAGE", "min_count": "many"}}, 400),
    ({"srv": {}}, 400),
])
def test_bad_input_is_a_clear_4xx_and_creates_nothing(deployed_cloud, demo, body, code):
    before = _count(deployed_cloud, demo)
    if isinstance(body, dict):
        image = _image_id(deployed_cloud, demo)
        text = requests.models.complexjson.dumps(body).replace("IMAGE", image).encode()
    else:
        text = body
    resp = demo.post(deployed_cloud.compute_url + "/servers", data=text,
                     headers={"Content-Type": "application/json"})
    assert resp.status_code == code, resp.text
    error = next(iter(resp.json().values()))
    assert error["code"] == code and error["message"]
    assert _count(deployed_cloud, demo) == before


def test_tokens_no_expired_tampered(deployed_cloud, demo):
    url = deployed_cloud.compute_url + "/servers"
    assert requests.get(url, timeout=10).status_code == 401
    token = demo.headers["X-Auth-Token"]
    head, payload, sig = token.split(".")
    tampered = f"{head}.{payload}.{sig[:-4]}AAAA"
    assert requests.get(url, headers={"X-Auth-Token": tampered}, timeout=10).status_code == 401
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(claims | {"exp": 1}, "secret", algorithm="HS256")
    assert requests.get(url, headers={"X-Auth-Token": forged}, timeout=10).status_code == 401
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert requests.get(url, headers={"X-Auth-Token": unsigned}, timeout=10).status_code == 401
    resp = requests.get(url, headers={"X-Auth-Token": "x" * 20000}, timeout=10)
    assert resp.status_code in (400, 401)


def test_flavor_admin_only(deployed_cloud, demo, admin):
    body = {"flavor": {"name": f"f-{uuid.uuid4().hex[:6]}", "ram": 256, "vcpus": 1, "disk": 1}}
    assert demo.post(deployed_cloud.compute_url + "/flavors", json=body).status_code == 403
    resp = admin.post(deployed_cloud.compute_url + "/flavors", json=body)
    assert resp.status_code == 200, resp.text
    flavor_id = resp.json()["flavor"]["id"]
    names = [f["name"] for f in demo.get(deployed_cloud.compute_url + "/flavors").json()["flavors"]]
    assert body["flavor"]["name"] in names
    assert admin.delete(f"{deployed_cloud.compute_url}/flavors/{flavor_id}").status_code == 202


def test_cells_and_hosts_visible_to_admin(deployed_cloud, demo, admin):
    cells = admin.get(deployed_cloud.compute_url + "/os-cells").json()["cells"]
    paths = {c["path"] for c in cells}
    assert {"top!cell1", "top!cell2"} <= paths
    hypervisors = admin.get(deployed_cloud.compute_url + "/os-hypervisors/detail").json()
    assert len(hypervisors["hypervisors"]) == 8
    assert demo.get(deployed_cloud.compute_url + "/os-hypervisors").status_code == 403
