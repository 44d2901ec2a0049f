"""cloud-api's entry point, and openstacksdk against a running server."""

from __future__ import annotations

import dataclasses
import socket
import time

import openstack
import pytest
import requests

from api import cmd
from api.app import create_app
from cells.config import Endpoint
from cells.service import WsgiServer
from tests.unit.api.conftest import ADMIN_PROJECT, IMAGE, token


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_build_gives_one_wsgi_server(conf):
    (server,) = cmd.build(conf, None)
    assert isinstance(server, WsgiServer) and server.name == "cloud-api"
    assert (server.endpoint.host, server.endpoint.port) == ("127.0.0.1", 18774)


def test_build_needs_an_api_section(conf):
    with pytest.raises(cmd.ConfigError, match="api.listen"):
        cmd.build(dataclasses.replace(conf, api=None), None)


def test_main_without_configuration_exits_2(monkeypatch, capsys):
    monkeypatch.delenv("CLOUD_CONFIG", raising=False)
    with pytest.raises(SystemExit) as info:
        cmd.main([])
    assert info.value.code == 2 and "no configuration" in capsys.readouterr().err


@pytest.fixture
def running(conf, db, verifier, images, recorders, flavors):
    port = free_port()
    conf = dataclasses.replace(conf, api=Endpoint("127.0.0.1", port, f"http://127.0.0.1:{port}", 4))
    server = WsgiServer("cloud-api", create_app(conf, db, verifier=verifier, image_lookup=images), conf.api)
    server.start()
    deadline = time.monotonic() + 10
    while True:
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_openstacksdk_workflow(running, recorders, db):
    conn = openstack.connect(auth_type="admin_token", compute_api_version="2",
                             auth={"endpoint": f"{running}/v2.1",
                                   "token": token(ADMIN_PROJECT, ("admin", "member"))})
    compute = conn.compute
    assert {f.name for f in compute.flavors()} == {"m1.small", "m1.large", "private"}
    made = compute.create_flavor(name="sdk", ram=128, vcpus=1, disk=1)
    assert compute.find_flavor("sdk").id == made.id
    compute.delete_flavor(made.id)
    assert compute.find_flavor("sdk") is None

    server = compute.create_server(name="sdk-vm", image_id=IMAGE, flavor_id="1")
    assert server.admin_password
    assert recorders["scheduler"].next()[0] == "schedule_instances"
    fetched = compute.get_server(server.id)
    assert (fetched.status, fetched.flavor.id, fetched.image.id) == ("BUILD", "1", IMAGE)
    assert compute.find_server("sdk-vm").id == server.id
    assert [s.id for s in compute.servers()] == [server.id]
    with pytest.raises(openstack.exceptions.ConflictException):
        compute.stop_server(server.id)  # still being scheduled
    compute.delete_server(server.id)
    assert compute.find_server("sdk-vm") is None
    assert list(compute.hypervisors()) == []
