"""A 2 GiB image goes through the real cloud-images daemon in a small, fixed amount of memory.

The daemon runs as its own process (an API cell's master store on SQLite, its
tokens issued by the cell's identity service served from this process). The
test streams 2 GiB to it chunked from a generator, downloads it streamed, and
reads the daemon's peak resident set (VmHWM) before and after: it may grow by
a few chunks in flight, never by the image.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cells.db import migrate
from cells.db.engine import Database
from cells.service import WsgiServer
from tests.conftest import write_cell_config

pytestmark = pytest.mark.integration

MiB = 1024 * 1024
SIZE = 2048 * MiB
BLOCK = os.urandom(MiB)
# A handful of 1 MiB chunks and the buffers of a few connections; the image is 2048 MiB.
MAX_GROWTH = 64 * MiB


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def vm_hwm(pid: int) -> int:
    """The process's peak resident set so far, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def generated(digest: hashlib._Hash) -> Iterator[bytes]:
    """SIZE bytes in 1 MiB chunks, each different (its number first), hashed as they go."""
    for i in range(SIZE // MiB):
        chunk = i.to_bytes(8, "big") + BLOCK[8:]
        digest.update(chunk)
        yield chunk


@pytest.fixture
def images_daemon(tmp_path):
    """(images URL, daemon pid, demo token, store dir) of a cloud-images process with its identity."""
    from identity.app import create_app as identity_app
    from identity.bootstrap import bootstrap

    id_port, img_port = free_port(), free_port()
    demo_password = secrets.token_urlsafe(12)
    store_dir = tmp_path / "store"
    config = str(tmp_path / "top.yaml")
    conf = write_cell_config(config, {
        "cell": {"name": "top", "type": "api"},
        "database": {"url": f"sqlite:///{tmp_path}/top.db"},
        "broker": {"url": "fake:///top"},
        "state_dir": str(tmp_path / "state"),
        "auth": {"identity_url": f"http://127.0.0.1:{id_port}"},
        "identity": {"listen": f"127.0.0.1:{id_port}", "public_url": f"http://127.0.0.1:{id_port}",
                     "password_hash_cost": 10, "key_repository": str(tmp_path / "keys")},
        "images": {"listen": f"127.0.0.1:{img_port}", "public_url": f"http://127.0.0.1:{img_port}",
                   "store_dir": str(store_dir), "threads": 4},
        "logging": {"level": "WARNING"},
    })
    migrate.upgrade(conf.database_url, "api")
    db = Database(conf.database_url)
    bootstrap(conf, db, secrets.token_urlsafe(12), demo_password, {})
    assert conf.identity is not None
    identity = WsgiServer("identity", identity_app(conf, db), conf.identity)
    identity.start()
    log = tmp_path / "images.log"
    exe = os.path.join(os.path.dirname(sys.executable), "cloud-images")
    with open(log, "wb") as out:
        proc = subprocess.Popen([exe, "--config", config], stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{img_port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"cloud-images exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if requests.get(url + "/", timeout=2).status_code == 300:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"cloud-images did not answer:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        login = requests.post(f"http://127.0.0.1:{id_port}/v3/auth/tokens", timeout=30, json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "demo", "domain": {"id": "default"}, "password": demo_password}}},
            "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}})
        assert login.status_code == 201, login.text
        yield url, proc.pid, login.headers["X-Subject-Token"], store_dir
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        identity.stop()
        db.dispose()
        # Two GiB is too much to leave behind in pytest's kept temporary directories.
        for held in store_dir.glob("*"):
            if held.is_file():
                held.unlink()


def test_2gib_upload_and_download_in_fixed_memory(images_daemon):
    url, pid, token, store_dir = images_daemon
    headers = {"X-Auth-Token": token}
    created = requests.post(url + "/v2/images", headers=headers, timeout=30, json={
        "name": "big", "disk_format": "raw", "container_format": "bare"})
    assert created.status_code == 201, created.text
    image_id = created.json()["id"]
    before = vm_hwm(pid)

    sent = hashlib.sha512()
    response = requests.put(f"{url}/v2/images/{image_id}/file", data=generated(sent), timeout=600,
                            headers={**headers, "Content-Type": "application/octet-stream"})
    assert response.status_code == 204, response.text
    after_upload = vm_hwm(pid)
    shown = requests.get(f"{url}/v2/images/{image_id}", headers=headers, timeout=30).json()
    assert shown["status"] == "active" and shown["size"] == SIZE
    assert shown["os_hash_value"] == sent.hexdigest()
    assert (store_dir / image_id).stat().st_size == SIZE

    received, got = 0, hashlib.sha512()
    with requests.get(f"{url}/v2/images/{image_id}/file", headers=headers, stream=True,
                      timeout=600) as download:
        assert download.status_code == 200
        assert int(download.headers["Content-Length"]) == SIZE
        for chunk in download.iter_content(MiB):
            got.update(chunk)
            received += len(chunk)
    assert received == SIZE and got.hexdigest() == sent.hexdigest()
    after_download = vm_hwm(pid)

    assert after_upload - before < MAX_GROWTH, (before, after_upload)
    assert after_download - before < MAX_GROWTH, (before, after_download)
