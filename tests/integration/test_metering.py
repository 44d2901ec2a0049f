"""Metering end to end in the deployed cloud (real daemons, MariaDB, RabbitMQ).

The session's deployed cloud samples every guest each second and closes a
metering hour every ten seconds (tests/integration/conftest.py). One run, shared
by the tests below: a project of our own boots servers of different sizes in
both compute cells; while they run, a user lists servers; cell1's collector is
killed and started again, and RabbitMQ is restarted; then the servers are
deleted and the API cell's accounting is read once every cell's usage arrived.

Tolerance: each instance is counted from its launch to its last sample, so it
misses up to a poll interval at its end; while RabbitMQ restarts, an agent's
poll waits for the broker (3 reconnection attempts) before it keeps its batch
for later, and polls on a loaded machine start late: a sample covers at most
1.1 intervals back, so such gaps are not counted. It may never be counted
longer than it lived (plus one poll of clock granularity). The bounds below
are 5 polls under, 1 poll over, per instance and vCPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.integration.conftest import METERING_HOUR, METERING_POLL, wait_broker_consumers, wait_status

pytestmark = pytest.mark.integration

FLAVOR_VCPUS = {"1": 1, "3": 2, "4": 4}
HS06_PER_CORE = {"cell1": 10.0, "cell2": 12.5}  # cloudctl up's simulated hosts, by cell
UNDER, OVER = 5 * METERING_POLL, 1 * METERING_POLL  # seconds per instance, see the docstring


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Server:
    id: str
    vcpus: int
    cell: str = ""
    launched: datetime | None = None
    deleted: datetime | None = None

    def hours(self) -> float:
        assert self.launched and self.deleted
        return (self.deleted - self.launched).total_seconds() / METERING_HOUR


@dataclass
class MeteringRun:
    project_id: str
    servers: list[Server]
    start: datetime
    end: datetime
    user_token: str
    traffic: list[int] = field(default_factory=list)
    counts_before: dict[str, dict] = field(default_factory=dict)
    counts_after: dict[str, dict] = field(default_factory=dict)


def _session(token: str) -> requests.Session:
    session = requests.Session()
    session.headers["X-Auth-Token"] = token
    return session


def _make_project(cloud, admin: requests.Session) -> tuple[str, str]:
    """A project of the test's own with a member; returns (project id, member's token)."""
    name = f"meter-{uuid.uuid4().hex[:8]}"
    identity = cloud.identity_url
    project = admin.post(identity + "/projects", timeout=30,
                         json={"project": {"name": name, "domain_id": "default"}})
    assert project.status_code == 201, project.text
    project_id = project.json()["project"]["id"]
    password = uuid.uuid4().hex
    user = admin.post(identity + "/users", timeout=30, json={"user": {
        "name": name, "domain_id": "default", "password": password}})
    assert user.status_code == 201, user.text
    roles = admin.get(identity + "/roles", params={"name": "member"}, timeout=30).json()["roles"]
    grant = admin.put(f"{identity}/projects/{project_id}/users/{user.json()['user']['id']}"
                      f"/roles/{roles[0]['id']}", timeout=30)
    assert grant.status_code == 204, grant.text
    login = requests.post(identity + "/auth/tokens", timeout=30, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": name, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"id": project_id}}}})
    assert login.status_code == 201, login.text
    return project_id, login.headers["X-Subject-Token"]


def _api_cell_endpoints(cloud) -> dict[str, str]:
    offset = cloud.port_offset
    return {"compute": f"http://127.0.0.1:{8774 + offset}",
            "identity": f"http://127.0.0.1:{5000 + offset}",
            "images": f"http://127.0.0.1:{9292 + offset}"}


def _request_counts(cloud, admin: requests.Session) -> dict[str, dict]:
    counts = {}
    for service, url in _api_cell_endpoints(cloud).items():
        resp = admin.get(url + "/request-counts", timeout=30)
        assert resp.status_code == 200, (service, resp.text)
        counts[service] = resp.json()
    return counts


def _traffic(session: requests.Session, url: str, stop: threading.Event, statuses: list[int]) -> None:
    while not stop.wait(0.2):
        for path in ("/servers/detail", "/flavors/detail"):
            statuses.append(session.get(url + path, timeout=60).status_code)


def _collector_command(cloud, cell: str) -> list[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "cloud-metering")
    return [exe, "--config", str(cloud.state_dir / "etc" / f"{cell}.yaml")]


def _restart_collector(cloud, cell: str, down: float) -> subprocess.Popen:
    """Kill the cell's collector (SIGKILL: no clean shutdown) and start it again after ``down`` s."""
    command = _collector_command(cloud, cell)
    found = subprocess.run(["pkill", "-9", "-f", "--", "cloud-metering " + " ".join(command[1:])],
                           timeout=30)
    assert found.returncode == 0, "the cell's collector was not running"
    time.sleep(down)
    log = open(cloud.state_dir / "logs" / f"cloud-metering-{cell}-restarted.log", "ab")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    return proc


def _restart_rabbitmq() -> None:
    for cmd in (["rabbitmqctl", "stop_app"], ["rabbitmqctl", "start_app"],
                ["rabbitmqctl", "await_startup"]):
        subprocess.run(cmd, check=True, capture_output=True, timeout=180)


def _accounting(session: requests.Session, url: str, run: MeteringRun, group_by: str,
                granularity: str = "hour", **extra: str) -> dict:
    params = {"start": _iso(run.start), "end": _iso(run.end), "granularity": granularity,
              "group_by": group_by, **extra}
    resp = session.get(url + "/os-accounting", params=params, timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()["accounting"]


def _project_vcpu_hours(session: requests.Session, url: str, run: MeteringRun) -> float:
    groups = _accounting(session, url, run, "project", project_id=run.project_id)["groups"]
    return sum(g["totals"]["vcpu_hours"] for g in groups)


@pytest.fixture(scope="module")
def metering_run(deployed_cloud):
    cloud = deployed_cloud
    admin = _session(cloud.token("admin"))
    project_id, user_token = _make_project(cloud, admin)
    user = _session(user_token)
    image = user.get(cloud.image_url + "/v2/images", params={"name": "tiny"},
                     timeout=30).json()["images"][0]["id"]
    start = datetime.now(UTC) - timedelta(seconds=METERING_HOUR)
    servers: list[Server] = []
    for n, flavor in enumerate(["4", "3", "1", "3", "4", "1"]):
        resp = user.post(cloud.compute_url + "/servers", timeout=60, json={"server": {
            "name": f"metered-{n}", "flavorRef": flavor, "imageRef": image}})
        assert resp.status_code == 202, resp.text
        servers.append(Server(resp.json()["server"]["id"], FLAVOR_VCPUS[flavor]))
    for server in servers:
        shown = wait_status(user, f"{cloud.compute_url}/servers/{server.id}", {"ACTIVE"})
        server.launched = _parse(shown["OS-SRV-USG:launched_at"])
        host = admin.get(f"{cloud.compute_url}/servers/{server.id}", timeout=30).json()["server"]
        server.cell = host["OS-EXT-SRV-ATTR:host"].split("-")[0]
    run = MeteringRun(project_id, servers, start, start, user_token)
    run.counts_before = _request_counts(cloud, admin)

    stop = threading.Event()
    traffic = threading.Thread(target=_traffic, args=(user, cloud.compute_url, stop, run.traffic))
    traffic.start()
    restarted: subprocess.Popen | None = None
    try:
        time.sleep(METERING_HOUR)
        restarted = _restart_collector(cloud, "cell1", down=3 * METERING_POLL)
        time.sleep(METERING_HOUR)
        _restart_rabbitmq()
        wait_broker_consumers(cloud)
        time.sleep(METERING_HOUR)
        for server in servers:
            server.deleted = datetime.now(UTC)
            assert user.delete(f"{cloud.compute_url}/servers/{server.id}", timeout=60).status_code == 204
        for server in servers:
            deadline = time.monotonic() + 120
            while user.get(f"{cloud.compute_url}/servers/{server.id}", timeout=30).status_code != 404:
                assert time.monotonic() < deadline, f"server {server.id} was not deleted"
                time.sleep(0.5)
    finally:
        stop.set()
        traffic.join()
    run.counts_after = _request_counts(cloud, admin)
    run.end = datetime.now(UTC) + timedelta(seconds=2 * METERING_HOUR)

    # Wait until every cell's rollups arrived: the figure stops changing.
    expected = sum(s.vcpus * s.hours() for s in servers)
    deadline = time.monotonic() + 120
    last = -1.0
    while True:
        got = _project_vcpu_hours(admin, cloud.compute_url, run)
        if got == last and got >= expected - sum(s.vcpus for s in servers) * UNDER / METERING_HOUR:
            break
        assert time.monotonic() < deadline, f"accounting still at {got} vCPU-h of {expected}"
        last = got
        time.sleep(3 * METERING_POLL + 2)
    yield run
    if restarted is not None and restarted.poll() is None:
        restarted.terminate()
        restarted.wait(timeout=30)


def test_servers_landed_in_both_cells(metering_run):
    assert {s.cell for s in metering_run.servers} == {"cell1", "cell2"}


def test_vcpu_hours_equal_lifetimes_times_vcpus(deployed_cloud, metering_run):
    admin = _session(deployed_cloud.token("admin"))
    run = metering_run
    got = _project_vcpu_hours(admin, deployed_cloud.compute_url, run)
    expected = sum(s.vcpus * s.hours() for s in run.servers)
    vcpus = sum(s.vcpus for s in run.servers)
    print(f"vCPU-hours: {got:.3f} metered, {expected:.3f} from lifetimes x vCPUs "
          f"(bounds -{vcpus * UNDER / METERING_HOUR:.3f} / +{vcpus * OVER / METERING_HOUR:.3f})")
    assert expected - vcpus * UNDER / METERING_HOUR <= got <= expected + vcpus * OVER / METERING_HOUR, (
        f"{got} vCPU-h for lifetimes worth {expected}")


def test_hs06_hours_weigh_each_cells_hosts(deployed_cloud, metering_run):
    admin = _session(deployed_cloud.token("admin"))
    groups = _accounting(admin, deployed_cloud.compute_url, metering_run, "cell",
                         project_id=metering_run.project_id)["groups"]
    by_cell = {g["key"].rsplit("!", 1)[-1]: g["totals"] for g in groups}
    assert set(by_cell) == {"cell1", "cell2"}
    for cell, totals in by_cell.items():
        assert totals["hs06_hours"] == pytest.approx(totals["vcpu_hours"] * HS06_PER_CORE[cell],
                                                     rel=1e-6)
        servers = [s for s in metering_run.servers if s.cell == cell]
        expected = sum(s.vcpus * s.hours() for s in servers)
        vcpus = sum(s.vcpus for s in servers)
        assert (expected - vcpus * UNDER / METERING_HOUR <= totals["vcpu_hours"]
                <= expected + vcpus * OVER / METERING_HOUR), (cell, totals, expected)


def test_the_user_sees_the_same_usage_in_os_simple_tenant_usage(deployed_cloud, metering_run):
    run = metering_run
    user = _session(run.user_token)
    resp = user.get(f"{deployed_cloud.compute_url}/os-simple-tenant-usage/{run.project_id}",
                    params={"start": _iso(run.start).rstrip("Z"), "end": _iso(run.end).rstrip("Z")},
                    timeout=60)
    assert resp.status_code == 200, resp.text
    usage = resp.json()["tenant_usage"]
    admin = _session(deployed_cloud.token("admin"))
    assert usage["total_vcpus_usage"] == pytest.approx(
        _project_vcpu_hours(admin, deployed_cloud.compute_url, run), rel=1e-6)
    assert {s["instance_id"] for s in usage["server_usages"]} == {s.id for s in run.servers}


def test_cloudctl_usage_report_matches_the_api(deployed_cloud, metering_run):
    run = metering_run
    out = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "cloudctl"), "usage", "report",
         "--start", _iso(run.start), "--end", _iso(run.end), "--group-by", "cell",
         "--project", run.project_id, "-f", "json"],
        env=deployed_cloud.env("admin"), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = {row["group"]: row for row in json.loads(out.stdout)}
    admin = _session(deployed_cloud.token("admin"))
    groups = _accounting(admin, deployed_cloud.compute_url, run, "cell", granularity="day",
                         project_id=run.project_id)["groups"]
    assert set(rows) == {g["key"] for g in groups}
    for group in groups:
        for metric in ("vcpu_hours", "hs06_hours", "ram_gb_hours", "disk_gb_hours"):
            assert rows[group["key"]][metric] == pytest.approx(group["totals"][metric], rel=1e-6)


def test_the_api_cell_hears_nothing_from_metering_or_cells(metering_run):
    before, after = metering_run.counts_before, metering_run.counts_after

    def cell_callers(counts: dict) -> dict[tuple, int]:
        return {(c["issuer"], c["user_name"]): c["requests"] for c in counts["callers"]
                if c["issuer"] != "top" or (c.get("user_name") or "").startswith("cell")}

    for service in ("compute", "identity", "images"):
        assert cell_callers(after[service]) == cell_callers(before[service]), service
        assert after[service]["refused"] == before[service]["refused"], service
    assert after["compute"]["anonymous"] == before["compute"]["anonymous"]
    assert after["images"]["anonymous"] == before["images"]["anonymous"]
    # Users were served as usual meanwhile.
    assert metering_run.traffic and set(metering_run.traffic) == {200}
