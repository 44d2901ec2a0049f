"""The client against a fake cloud on a loopback port, in the real wire formats."""

from __future__ import annotations

import hashlib
import io
import logging
import socket
import time

import pytest

from cloudctl.client import (
    AmbiguousName,
    Client,
    CloudApiError,
    CloudConfig,
    CloudConfigError,
    CloudError,
    NotFound,
    WaitTimeout,
)


def _flavor(fake, name="small", flavor_id="f1"):
    fake.flavors[flavor_id] = {"id": flavor_id, "name": name, "vcpus": 1, "ram": 512, "disk": 1}
    return flavor_id


def _image(fake, client, name="cirros"):
    return client.images.create(name)["id"]


def test_login_sends_password_auth_scoped_to_project(fake_cloud, client):
    assert client.servers.list() == []
    (body,) = fake_cloud.auth_bodies
    auth = body["auth"]
    assert auth["identity"] == {"methods": ["password"], "password": {"user": {
        "name": "admin", "password": "secret", "domain": {"name": "Default"}}}}
    assert auth["scope"] == {"project": {"name": "admin", "domain": {"name": "Default"}}}
    method, path, _, token = fake_cloud.requests[-1]
    assert (method, path) == ("GET", "/compute/v2.1/servers/detail")
    assert token in fake_cloud.tokens


def test_endpoints_come_from_the_catalog_by_interface_and_region(fake_cloud, client):
    assert client.session.endpoint("compute") == f"{fake_cloud.base}/compute/v2.1"
    assert client.session.endpoint("image") == f"{fake_cloud.base}/image/v2"
    internal = Client(CloudConfig(auth_url=f"{fake_cloud.base}/identity", username="admin",
                                  password="secret", project_name="admin", interface="internal"))
    assert internal.session.endpoint("compute") == f"{fake_cloud.base}/compute/v2.1/internal"
    nowhere = Client(CloudConfig(auth_url=f"{fake_cloud.base}/identity/v3", username="admin",
                                 password="secret", project_name="admin", region_name="RegionThree"))
    with pytest.raises(CloudConfigError, match="no public compute endpoint in region RegionThree"):
        nowhere.session.endpoint("compute")


def test_one_login_serves_many_requests_and_a_revoked_token_is_renewed_once(fake_cloud, client):
    for _ in range(3):
        client.flavors.list()
    assert len(fake_cloud.auth_bodies) == 1
    fake_cloud.tokens.clear()
    assert client.flavors.list() == []
    assert len(fake_cloud.auth_bodies) == 2


def test_a_token_close_to_expiry_is_renewed_before_use(fake_cloud, client):
    fake_cloud.token_ttl = 2  # short-lived: renewed half-way through
    client.flavors.list()
    client.flavors.list()
    assert len(fake_cloud.auth_bodies) == 1
    time.sleep(1.1)
    client.flavors.list()
    assert len(fake_cloud.auth_bodies) == 2


def test_wrong_password_raises_with_keystones_message(fake_cloud, client):
    fake_cloud.password = "other"
    with pytest.raises(CloudApiError) as err:
        client.servers.list()
    assert err.value.status == 401
    assert err.value.message == "The request you have made requires authentication."


def test_unreachable_cloud_raises_cloud_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = Client(CloudConfig(auth_url=f"http://127.0.0.1:{port}/v3", username="u", password="p",
                                project_name="p"))
    with pytest.raises(CloudError, match="failed: ConnectionError"):
        client.servers.list()


def test_server_list_follows_next_links_and_stops_at_limit(fake_cloud, client):
    ids = [fake_cloud.add_server(f"vm{i}") for i in range(7)]
    assert [s["id"] for s in client.servers.list()] == ids
    pages = [q for m, p, q, _ in fake_cloud.requests if p.endswith("/servers/detail")]
    assert len(pages) == 3 and pages[1]["marker"] == [ids[2]]
    fake_cloud.requests.clear()
    assert [s["id"] for s in client.servers.list(limit=4)] == ids[:4]
    pages = [q for m, p, q, _ in fake_cloud.requests if p.endswith("/servers/detail")]
    assert [q["limit"] for q in pages] == [["4"], ["1"]]


def test_server_list_filters(fake_cloud, client):
    fake_cloud.add_server("web1")
    fake_cloud.add_server("db1", status="SHUTOFF")
    fake_cloud.add_server("other", project="p2")
    assert [s["name"] for s in client.servers.list(status="SHUTOFF")] == ["db1"]
    assert [s["name"] for s in client.servers.list(name="web")] == ["web1"]
    assert len(client.servers.list(all_projects=True)) == 3
    assert fake_cloud.requests[-1][2]["all_tenants"] == ["1"]


def test_find_by_name_is_exact_and_refuses_ambiguity(fake_cloud, client):
    one = fake_cloud.add_server("web1")
    fake_cloud.add_server("web10")
    fake_cloud.add_server("twin")
    fake_cloud.add_server("twin")
    assert client.servers.find("web1")["id"] == one
    assert client.servers.find(one)["name"] == "web1"
    with pytest.raises(AmbiguousName, match="More than one server exists with the name 'twin'"):
        client.servers.find("twin")
    with pytest.raises(NotFound, match="No server with a name or ID of 'nope' exists"):
        client.servers.find("nope")


def test_errors_carry_the_apis_message(fake_cloud, client):
    with pytest.raises(NotFound) as err:
        client.servers.get("00000000-0000-0000-0000-000000000000")
    assert err.value.message == "Instance 00000000-0000-0000-0000-000000000000 could not be found."
    assert err.value.request_id.startswith("req-")
    with pytest.raises(CloudApiError) as err:
        client.servers.create("x", "missing-flavor", "missing-image")
    assert (err.value.status, err.value.message) == (400, "Flavor missing-flavor could not be found.")
    with pytest.raises(NotFound, match="The resource could not be found"):
        client.images.get("00000000-0000-0000-0000-000000000000")  # Glance's plain-text 404


def test_boot_and_wait_reports_each_status_change(fake_cloud, client):
    flavor_id = _flavor(fake_cloud)
    image_id = _image(fake_cloud, client)
    fake_cloud.steps = 3
    created = client.servers.create("web1", flavor_id, image_id, {"role": "web"})
    seen: list[str] = []
    server = client.servers.wait_for(created["id"], {"ACTIVE"}, interval=0.01,
                                     progress=lambda status, elapsed: seen.append(status))
    assert server["status"] == "ACTIVE" and server["metadata"] == {"role": "web"}
    assert seen == ["BUILD", "ACTIVE"]


def test_wait_stops_on_error_and_on_timeout(fake_cloud, client):
    flavor_id = _flavor(fake_cloud)
    broken = client.images.create("broken")["id"]
    created = client.servers.create("bad", flavor_id, broken)
    server = client.servers.wait_for(created["id"], {"ACTIVE"}, interval=0.01)
    assert server["status"] == "ERROR" and server["fault"]["message"] == "No valid host was found."
    fake_cloud.steps = 1000
    slow = client.servers.create("slow", flavor_id, broken)
    with pytest.raises(WaitTimeout) as err:
        client.servers.wait_for(slow["id"], {"ACTIVE"}, timeout=0.2, interval=0.01)
    assert err.value.status == "BUILD"


def test_actions_and_delete_wait(fake_cloud, client):
    server_id = fake_cloud.add_server("web1")
    client.servers.stop(server_id)
    assert fake_cloud.requests[-1][1].endswith(f"/servers/{server_id}/action")
    # Still ACTIVE but busy (powering-off) must not count as done.
    fake_cloud.servers[server_id]["status"] = "ACTIVE"
    assert client.servers.wait_for(server_id, {"SHUTOFF"}, interval=0.01)["status"] == "SHUTOFF"
    with pytest.raises(CloudApiError) as err:
        client.servers.stop(server_id)
    assert err.value.status == 409 and "Cannot 'stop' instance" in err.value.message
    client.servers.start(server_id)
    assert client.servers.wait_for(server_id, {"ACTIVE"}, interval=0.01)["status"] == "ACTIVE"
    client.servers.reboot(server_id, hard=True)
    assert fake_cloud.servers[server_id]["status"] == "HARD_REBOOT"
    client.servers.wait_for(server_id, {"ACTIVE"}, interval=0.01)
    client.servers.delete(server_id)
    assert client.servers.wait_for(server_id, {"DELETED"}, interval=0.01) is None
    with pytest.raises(NotFound):
        client.servers.wait_for(server_id, {"ACTIVE"}, interval=0.01)


def test_a_busy_server_in_error_is_not_final_yet(fake_cloud, client):
    server_id = fake_cloud.add_server("broken", status="ERROR")
    fake_cloud.steps = 3
    client.servers.stop(server_id)  # ERROR + powering-off, then SHUTOFF
    seen: list[str] = []
    server = client.servers.wait_for(server_id, {"SHUTOFF"}, interval=0.01,
                                     progress=lambda status, elapsed: seen.append(status))
    assert server["status"] == "SHUTOFF" and seen == ["ERROR", "SHUTOFF"]


def test_flavors_create_find_delete(fake_cloud, client):
    made = client.flavors.create("m1.small", vcpus=1, ram=2048, disk=20, flavor_id="small")
    assert made["id"] == "small" and fake_cloud.flavors["small"]["ram"] == 2048
    assert client.flavors.find("m1.small")["id"] == "small"
    assert client.flavors.find("small")["name"] == "m1.small"
    with pytest.raises(CloudApiError, match="already exists"):
        client.flavors.create("m1.small", vcpus=1, ram=1, disk=1)
    client.flavors.delete("small")
    with pytest.raises(NotFound):
        client.flavors.find("m1.small")


def test_image_upload_streams_a_file_and_lists_across_pages(fake_cloud, client, tmp_path):
    data = bytes(range(256)) * 8192  # 2 MiB
    path = tmp_path / "disk.qcow2"
    path.write_bytes(data)
    image = client.images.create("cirros", disk_format="qcow2", properties={"os_distro": "cirros"})
    assert image["status"] == "queued" and image["os_distro"] == "cirros"
    client.images.upload(image["id"], str(path))
    assert fake_cloud.image_data[image["id"]] == data
    got = client.images.get(image["id"])
    md5 = hashlib.md5(data).hexdigest()
    assert (got["status"], got["size"], got["checksum"]) == ("active", len(data), md5)
    other = client.images.create("raw-one", disk_format="raw")
    client.images.upload(other["id"], io.BytesIO(b"abc"))
    assert fake_cloud.image_data[other["id"]] == b"abc"
    names = [f"img{i}" for i in range(5)]
    for name in names:
        client.images.create(name)
    assert [i["name"] for i in client.images.list()] == ["cirros", "raw-one", *names]
    assert len(client.images.list(limit=4)) == 4
    assert client.images.find("img3")["name"] == "img3"
    with pytest.raises(CloudApiError, match="Invalid disk format"):
        client.images.create("bad", disk_format="vmdk-nope")


def test_hypervisors_and_cells(fake_cloud, client):
    fake_cloud.hypervisors = [{"id": "top!c1@h1", "hypervisor_hostname": "top!c1@h1", "cell_path": "top!c1",
                               "state": "up", "status": "enabled"}]
    cells = [{"path": "top", "name": "top", "parent": None, "type": "api", "vcpus_free": 4},
             {"path": "top!c1", "name": "c1", "parent": "top", "type": "compute", "vcpus_free": 4}]
    fake_cloud.cells = cells
    assert client.hypervisors.list()[0]["cell_path"] == "top!c1"
    assert client.cells.list() == cells
    for wrong in ([{"cell_path": "top!c1"}], [{"path": "top"}], {"top": {}}, ["top"]):
        fake_cloud.cells = wrong
        with pytest.raises(CloudError, match="os-cells"):
            client.cells.list()


def test_secrets_stay_out_of_logs_and_reprs(fake_cloud, client, caplog):
    caplog.set_level(logging.DEBUG)
    client.servers.list()
    client.images.list()
    token = next(iter(fake_cloud.tokens))
    assert "GET" in caplog.text
    assert token not in caplog.text and "secret" not in caplog.text
    assert "secret" not in repr(client.session.cloud)
