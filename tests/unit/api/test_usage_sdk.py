"""openstacksdk's usage calls, and ``openstack usage list/show`` themselves, against a running cloud-api."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

import openstack
import pytest
import requests
import yaml

from api.app import create_app
from cells.config import Endpoint
from cells.service import WsgiServer
from tests.unit.api.conftest import ADMIN_PROJECT, PROJECT_A, PROJECT_B, token
from tests.unit.api.usage_data import GRAND, WEB, seed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class IdentityStub:
    """Just enough of Identity v3 for the command line client: its version and the projects."""

    def __init__(self, app: Any, projects: dict[str, str]) -> None:
        self.app = app
        self.projects = projects

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if not path.startswith("/v3"):
            return self.app(environ, start_response)
        base = f"http://{environ['HTTP_HOST']}/v3"
        docs = {pid: {"id": pid, "name": name, "domain_id": "default", "enabled": True}
                for pid, name in self.projects.items()}
        body: Any = None
        if path.rstrip("/") == "/v3":
            body = {"version": {"id": "v3.14", "status": "stable", "media-types": [],
                                "links": [{"rel": "self", "href": base + "/"}]}}
        elif path == "/v3/projects":
            body = {"projects": list(docs.values()), "links": {"self": base + "/projects", "next": None}}
        elif path.startswith("/v3/projects/") and path.rsplit("/", 1)[1] in docs:
            body = {"project": docs[path.rsplit("/", 1)[1]]}
        status = "200 OK" if body is not None else "404 Not Found"
        data = json.dumps(body or {"error": {"code": 404, "message": "not found"}}).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]


@pytest.fixture
def running(conf, db, verifier, images, recorders):
    seed(db)
    port = free_port()
    conf = dataclasses.replace(conf, api=Endpoint("127.0.0.1", port, f"http://127.0.0.1:{port}", 4))
    app = IdentityStub(create_app(conf, db, verifier=verifier, image_lookup=images),
                       {PROJECT_A: "alpha", PROJECT_B: "beta", GRAND: "grand"})
    server = WsgiServer("cloud-api", app, conf.api)
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


def connect(url: str, project: str, roles: tuple[str, ...]) -> openstack.connection.Connection:
    return openstack.connect(auth_type="admin_token", compute_api_version="2",
                             auth={"endpoint": f"{url}/v2.1", "token": token(project, roles)})


# The dates the CLI sends: midnight of its --start and --end days, as naive ISO times.
START, END = dt.datetime(2026, 10, 31), dt.datetime(2026, 11, 2)


def test_usages_as_the_cli_lists_them(running):
    compute = connect(running, ADMIN_PROJECT, ("admin", "member")).compute
    usages = list(compute.usages(start=START, end=END, detailed=True))
    assert [u.project_id for u in usages] == [PROJECT_A, PROJECT_B, GRAND]
    a = usages[0]
    assert a.total_vcpus_usage == pytest.approx(2.0) and a.total_memory_mb_usage == pytest.approx(1024.0)
    assert a.total_local_gb_usage == pytest.approx(2.0) and len(a.server_usages) == 1
    assert a.server_usages[0].instance_id == WEB and a.server_usages[0].name == "web"


def test_usages_follow_the_next_links(running):
    compute = connect(running, ADMIN_PROJECT, ("admin", "member")).compute
    usages = list(compute.usages(start=START, end=END, detailed=True, limit=1))
    assert [u.project_id for u in usages] == [PROJECT_A, PROJECT_B, GRAND]


def test_usage_of_ones_own_project(running):
    compute = connect(running, PROJECT_A, ("reader",)).compute
    usage = compute.get_usage(PROJECT_A, start=START, end=END)
    assert usage.project_id == PROJECT_A and usage.total_hours == pytest.approx(2.0)
    assert [s.instance_id for s in usage.server_usages] == [WEB]
    empty = connect(running, PROJECT_B, ("member",)).compute.get_usage(PROJECT_B, start=END,
                                                                      end=END + dt.timedelta(days=1))
    assert empty.total_vcpus_usage == 0 and empty.server_usages == []
    with pytest.raises(openstack.exceptions.ForbiddenException):
        compute.get_usage(PROJECT_B, start=START, end=END)


def openstack_cli(url: str, auth_token: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the ``openstack`` command with a token for the Compute API alone (no identity service)."""
    config = {"clouds": {"unit": {
        "auth_type": "admin_token", "auth": {"endpoint": f"{url}/v2.1", "token": auth_token},
        "identity_api_version": "3", "identity_endpoint_override": f"{url}/v3",
        "compute_endpoint_override": f"{url}/v2.1"}}}
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as clouds:
        yaml.safe_dump(config, clouds)
        clouds.flush()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env["OS_CLIENT_CONFIG_FILE"] = clouds.name
        command = [os.path.join(os.path.dirname(sys.executable), "openstack"), "--os-cloud", "unit", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


def test_openstack_usage_list_and_show(running):
    admin = token(ADMIN_PROJECT, ("admin", "member"))
    listed = openstack_cli(running, admin, "usage", "list", "--start", "2026-10-31", "--end", "2026-11-02",
                           "-f", "json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["Project"]: row for row in json.loads(listed.stdout)}
    assert set(rows) == {PROJECT_A, PROJECT_B, GRAND}
    assert rows[PROJECT_A]["CPU Hours"] == pytest.approx(2.0)
    assert [s["name"] for s in rows[PROJECT_A]["Servers"]] == ["web"]
    assert rows[PROJECT_B]["RAM MB-Hours"] == pytest.approx(4096.0)
    table = openstack_cli(running, admin, "usage", "list", "--start", "2026-10-31", "--end", "2026-11-02")
    assert table.returncode == 0 and "| alpha " in table.stdout, table.stderr
    shown = openstack_cli(running, token(PROJECT_A, ("reader",)), "usage", "show", "--project", "alpha",
                          "--start", "2026-10-31", "--end", "2026-11-02", "-f", "json")
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["Project"] == PROJECT_A and [s["instance_id"] for s in doc["Servers"]] == [WEB]
    assert doc["RAM MB-Hours"] == pytest.approx(1024.0) and doc["Disk GB-Hours"] == pytest.approx(2.0)
    refused = openstack_cli(running, token(PROJECT_B, ("member",)), "usage", "show", "--project", "alpha")
    assert refused.returncode == 1 and "403" in refused.stderr
