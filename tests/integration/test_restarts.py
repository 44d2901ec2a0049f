"""Daemons survive a broker restart and a database restart and pick up where they were.

Runs against the session's deployed cloud (real processes, MariaDB, RabbitMQ):
restarts RabbitMQ, then MariaDB, and after each checks that an existing
server still obeys actions and that new servers boot and delete.
"""

from __future__ import annotations

import shutil
import subprocess
import time

import pymysql
import pytest
import requests

from tests.integration.conftest import wait_broker_consumers, wait_status

pytestmark = pytest.mark.integration

RECOVERY = 120  # seconds a daemon may take to reconnect and finish pending work


def _image(cloud, session) -> str:
    return session.get(cloud.image_url + "/v2/images", params={"name": "tiny"},
                       timeout=30).json()["images"][0]["id"]


def _boot(cloud, session, name: str) -> str:
    """Boot a server, retrying while the API answers 503 (its broker still reconnecting)."""
    deadline = time.monotonic() + RECOVERY
    body = {"server": {"name": name, "flavorRef": "1", "imageRef": _image(cloud, session)}}
    while True:
        resp = session.post(cloud.compute_url + "/servers", json=body, timeout=60)
        if resp.status_code == 202:
            return resp.json()["server"]["id"]
        assert resp.status_code == 503 and time.monotonic() < deadline, resp.text
        time.sleep(1)


def _restart_rabbitmq() -> None:
    for cmd in (["rabbitmqctl", "stop_app"], ["rabbitmqctl", "start_app"],
                ["rabbitmqctl", "await_startup"]):
        subprocess.run(cmd, check=True, capture_output=True, timeout=180)


def _mariadb_up() -> bool:
    try:
        pymysql.connect(host="127.0.0.1", user="root", password="", connect_timeout=2).close()
        return True
    except pymysql.MySQLError:
        return False


def _restart_mariadb() -> None:
    subprocess.run(["mariadb-admin", "-uroot", "shutdown"], check=True, timeout=120)
    subprocess.run(["start-stop-daemon", "--start", "--oknodo", "--background", "--exec",
                    "/usr/sbin/mariadbd", "--", "--user=mysql"], check=True, timeout=60)
    deadline = time.monotonic() + 120
    while not _mariadb_up():
        assert time.monotonic() < deadline, "MariaDB did not come back"
        time.sleep(1)
    # A restart resets runtime settings; the deployed topology needs more connections.
    conn = pymysql.connect(host="127.0.0.1", user="root", password="")
    with conn.cursor() as cur:
        cur.execute("SET GLOBAL max_connections = 1000")
    conn.close()


def _check_cloud_works(cloud, session, existing: str, tag: str) -> None:
    url = f"{cloud.compute_url}/servers/{existing}"
    deadline = time.monotonic() + RECOVERY
    while True:  # the API's own broker connection may still be coming back
        resp = session.post(url + "/action", json={"os-stop": None}, timeout=60)
        if resp.status_code == 202:
            break
        assert resp.status_code in (503, 409) and time.monotonic() < deadline, resp.text
        time.sleep(1)
    wait_status(session, url, {"SHUTOFF"}, timeout=RECOVERY)
    assert session.post(url + "/action", json={"os-start": None}).status_code == 202
    wait_status(session, url, {"ACTIVE"}, timeout=RECOVERY)
    new = [_boot(cloud, session, f"{tag}-{i}") for i in range(4)]
    for server_id in new:
        wait_status(session, f"{cloud.compute_url}/servers/{server_id}", {"ACTIVE"},
                    timeout=RECOVERY)
    for server_id in new:
        assert session.delete(f"{cloud.compute_url}/servers/{server_id}").status_code == 204
    for server_id in new:
        wait_status(session, f"{cloud.compute_url}/servers/{server_id}", {"DELETED"},
                    timeout=RECOVERY)


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="rabbitmqctl is not installed")
def test_broker_then_database_restart(deployed_cloud):
    session = requests.Session()
    session.headers["X-Auth-Token"] = deployed_cloud.token("demo")
    existing = _boot(deployed_cloud, session, "survivor")
    wait_status(session, f"{deployed_cloud.compute_url}/servers/{existing}", {"ACTIVE"})

    _restart_rabbitmq()
    wait_broker_consumers(deployed_cloud)
    _check_cloud_works(deployed_cloud, session, existing, "after-broker")

    if shutil.which("mariadb-admin") is None:
        pytest.skip("mariadb-admin is not installed: database restart not exercised")
    _restart_mariadb()
    _check_cloud_works(deployed_cloud, session, existing, "after-database")
    assert session.delete(f"{deployed_cloud.compute_url}/servers/{existing}").status_code == 204
    assert deployed_cloud.process.poll() is None, "the launcher (and its daemons) must still run"
