"""Real clouds for integration tests: `cloudctl up` started as a subprocess.

The deployed cloud runs one process per daemon per cell against the MariaDB
and RabbitMQ of this machine (its own databases and virtual hosts); the
embedded one runs in one process on SQLite. Both are stopped with Ctrl-C
(SIGINT), as a user would.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import yaml

from tests.conftest import mariadb_available

CLOUDCTL = os.path.join(os.path.dirname(sys.executable), "cloudctl")
# The deployed cloud samples every guest each second and closes a metering hour every
# ten seconds, so metering tests see several hours in a minute (tests/integration/test_metering.py).
METERING_POLL = 1.0
METERING_HOUR = 10.0


@dataclass
class RunningCloud:
    state_dir: Path
    clouds_yaml: Path
    port_offset: int
    process: subprocess.Popen
    output: list[str]

    def cloud(self, name: str) -> dict:
        return yaml.safe_load(self.clouds_yaml.read_text())["clouds"][name]

    @property
    def identity_url(self) -> str:
        return f"http://127.0.0.1:{5000 + self.port_offset}/v3"

    @property
    def compute_url(self) -> str:
        return f"http://127.0.0.1:{8774 + self.port_offset}/v2.1"

    @property
    def image_url(self) -> str:
        return f"http://127.0.0.1:{9292 + self.port_offset}"

    def token(self, name: str = "demo") -> str:
        auth = self.cloud(name)["auth"]
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": auth["username"], "domain": {"name": "Default"},
            "password": auth["password"]}}},
            "scope": {"project": {"name": auth["project_name"], "domain": {"name": "Default"}}}}}
        resp = requests.post(self.identity_url + "/auth/tokens", json=body, timeout=30)
        resp.raise_for_status()
        return resp.headers["X-Subject-Token"]

    def env(self, cloud: str = "demo") -> dict[str, str]:
        return os.environ | {"OS_CLIENT_CONFIG_FILE": str(self.clouds_yaml), "OS_CLOUD": cloud}


def _reader(stream, lines: list[str], ready: queue.Queue) -> None:
    for raw in iter(stream.readline, ""):
        line = raw.rstrip()
        lines.append(line)
        if line.startswith("cloud ready"):
            ready.put(True)
    ready.put(False)


def start_cloud(tmp_dir: Path, port_offset: int, extra: list[str],
                timeout: float = 300) -> RunningCloud:
    """Run `cloudctl up` and wait for its ready line; fails with its output otherwise."""
    state = tmp_dir / "state"
    cmd = [CLOUDCTL, "up", "--fresh", "--state-dir", str(state),
           "--port-offset", str(port_offset), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    ready: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, lines, ready), daemon=True).start()
    try:
        ok = ready.get(timeout=timeout)
    except queue.Empty:
        ok = False
    if not ok:
        stop_cloud(proc)
        logs = ""
        for log in sorted((state / "logs").glob("*.log")) if (state / "logs").exists() else []:
            logs += f"\n--- {log.name} ---\n" + "\n".join(log.read_text().splitlines()[-30:])
        pytest.fail("cloud did not become ready:\n" + "\n".join(lines[-40:]) + logs)
    return RunningCloud(state, state / "clouds.yaml", port_offset, proc, lines)


def stop_cloud(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def deployed_cloud(tmp_path_factory) -> Iterator[RunningCloud]:
    if not mariadb_available():
        pytest.skip("MariaDB is not reachable on 127.0.0.1:3306")
    prefix = f"itest{uuid.uuid4().hex[:6]}"
    cloud = start_cloud(tmp_path_factory.mktemp("deployed"), 300,
                        ["--deployed", "--prefix", prefix, "--hosts-per-cell", "4",
                         "--transition-timeout", "120",
                         "--metering-interval", str(METERING_POLL),
                         "--metering-hour", str(METERING_HOUR)])
    yield cloud
    stop_cloud(cloud.process)
    _drop(prefix)


def _drop(prefix: str) -> None:
    import pymysql

    conn = pymysql.connect(host="127.0.0.1", user="root", password="")
    with conn.cursor() as cur:
        for cell in ("top", "cell1", "cell2"):
            cur.execute(f"DROP DATABASE IF EXISTS `{prefix}_{cell}`")
    conn.close()
    for cell in ("top", "cell1", "cell2"):
        subprocess.run(["rabbitmqctl", "delete_vhost", f"{prefix}-{cell}"], capture_output=True)


@pytest.fixture(scope="session")
def embedded_cloud(tmp_path_factory) -> Iterator[RunningCloud]:
    cloud = start_cloud(tmp_path_factory.mktemp("embedded"), 400, [])
    yield cloud
    stop_cloud(cloud.process)


def wait_status(session: requests.Session, url: str, wanted: set[str],
                timeout: float = 60) -> dict:
    """Poll a server until its status is in ``wanted`` (or it is gone, for 'DELETED')."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        resp = session.get(url, timeout=10)
        if resp.status_code == 404 and "DELETED" in wanted:
            return {"status": "DELETED"}
        resp.raise_for_status()
        last = resp.json()["server"]
        if last["status"] in wanted:
            return last
        if last["status"] == "ERROR" and "ERROR" not in wanted:
            raise AssertionError(f"server went to ERROR: {last.get('fault')}")
        time.sleep(0.2)
    raise AssertionError(f"server did not reach {wanted}; last seen {last and last['status']}")


def wait_broker_consumers(cloud: RunningCloud, timeout: float = 120) -> None:
    """After a RabbitMQ restart: wait until the cells daemon of each of the cloud's cells consumes again.

    oslo.messaging's queues are not durable: until a daemon has reconnected and declared its
    queue again, a message cast to it has nowhere to go and the broker drops it. Acting
    before that would test that race, not the daemons' recovery.
    """
    vhosts = [yaml.safe_load(path.read_text())["broker"]["url"].rsplit("/", 1)[1]
              for path in sorted((cloud.state_dir / "etc").glob("*.yaml"))]
    deadline = time.monotonic() + timeout
    while True:
        waiting = []
        for vhost in vhosts:
            queues = subprocess.run(["rabbitmqctl", "list_queues", "-q", "-p", vhost, "name", "consumers"],
                                    capture_output=True, text=True, timeout=60).stdout.splitlines()
            found = dict(line.split()[:2] for line in queues if len(line.split()) >= 2)
            if found.get("cells", "0") == "0":
                waiting.append(vhost)
        if not waiting:
            return
        assert time.monotonic() < deadline, f"no cells daemon consumes again in {waiting}"
        time.sleep(1)
