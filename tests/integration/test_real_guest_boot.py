"""Boot a real guest under QEMU through the whole product path: API, cells, scheduler, agent, libvirtd.

`cloudctl up` (embedded, one compute cell with one host) drives
qemu:///system with software emulation. The test uploads the tiny guest of
tests/guest/build_guest.py through Image v2 (kernel, ramdisk and a qcow2
disk referring to them), boots it through Compute v2.1, waits for ACTIVE and
for the guest's marker on its serial console, then deletes it and checks
libvirt forgot the domain. Needs root, QEMU, libvirtd and a Debian kernel
package; skipped with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import libvirt  # type: ignore[import-untyped]
import pytest
import requests

from tests.guest import build_guest, libvirtd
from tests.integration.conftest import RunningCloud, start_cloud, stop_cloud, wait_status

pytestmark = [pytest.mark.qemu, pytest.mark.integration]

URI = "qemu:///system"
PORT_OFFSET = 500
# `cloudctl up` names the one real host of compute cell N "cellN-host"; its pool is "cloud-<host>".
HOST = "cell1-host"
POOL = f"cloud-{HOST}"
# Under tests/guest/out (git-ignored): QEMU's user must traverse it, and pytest's tmp dirs are 0700.
RUN_DIR = Path(build_guest.DEFAULT_OUT) / "real-boot"
ACTIVE_TIMEOUT = 120.0
MARKER_TIMEOUT = 90.0


@pytest.fixture(scope="module")
def guest() -> build_guest.GuestFiles:
    if os.geteuid() != 0:
        pytest.skip("booting a real guest needs root (libvirtd, qemu:///system)")
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    try:
        return build_guest.build()
    except build_guest.GuestBuildError as exc:
        pytest.skip(f"cannot build the test guest here: {exc}")


@pytest.fixture(scope="module")
def daemon(guest) -> Iterator[None]:
    try:
        started = libvirtd.start()
    except libvirtd.DaemonError as exc:
        pytest.skip(f"libvirtd cannot run here: {exc}")
    yield
    started.stop()


def _connect() -> libvirt.virConnect:
    # Without a handler libvirt prints every expected "not found" on stderr.
    libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
    return libvirt.open(URI)


def _drop_pool() -> None:
    """Remove the host's disk pool if it points into our run directory (a left-over of a crashed run)."""
    conn = _connect()
    try:
        pool = conn.storagePoolLookupByName(POOL)
    except libvirt.libvirtError:
        conn.close()
        return
    try:
        if str(RUN_DIR) not in pool.XMLDesc(0):
            pytest.fail(f"libvirt pool {POOL} exists outside {RUN_DIR}; remove it first")
        if pool.isActive():
            pool.destroy()
        pool.undefine()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def qemu_cloud(daemon) -> Iterator[RunningCloud]:
    _drop_pool()
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    RUN_DIR.mkdir(mode=0o755, parents=True)
    try:
        cloud = start_cloud(RUN_DIR, PORT_OFFSET, [
            "--libvirt-uri", URI, "--virt-type", "qemu", "--cells", "1", "--hosts-per-cell", "1"])
        yield cloud
        stop_cloud(cloud.process)
    finally:
        # The agent leaves its pool defined (a real host keeps it); this run's directory goes.
        _drop_pool()
        shutil.rmtree(RUN_DIR, ignore_errors=True)


@pytest.fixture(scope="module")
def admin(qemu_cloud) -> requests.Session:
    session = requests.Session()
    session.headers["X-Auth-Token"] = qemu_cloud.token("admin")
    return session


def _upload(cloud: RunningCloud, session: requests.Session, path: str, name: str, container: str,
            disk: str, **properties: str) -> str:
    body = {"name": name, "container_format": container, "disk_format": disk,
            "visibility": "public"} | properties
    resp = session.post(cloud.image_url + "/v2/images", json=body, timeout=30)
    assert resp.status_code == 201, resp.text
    image_id = resp.json()["id"]
    with open(path, "rb") as f:
        resp = session.put(f"{cloud.image_url}/v2/images/{image_id}/file", data=f, timeout=120,
                           headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 204, resp.text
    return image_id


def _read_console(path: Path, marker: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    console = ""
    while marker not in console:
        assert time.monotonic() < deadline, f"no {marker} on the console in {timeout}s:\n{console[-2000:]}"
        time.sleep(0.5)
        if path.exists():
            console = path.read_text(errors="replace")
    return console


def _domain_state(uuid: str) -> int | None:
    """Return the libvirt state of the guest's domain, or None if libvirt has no such domain."""
    conn = _connect()
    try:
        return conn.lookupByUUIDString(uuid).state()[0]
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise
    finally:
        conn.close()


def test_real_guest_boots_through_the_api(guest, qemu_cloud, admin):
    kernel = _upload(qemu_cloud, admin, guest.kernel, "guest-kernel", "aki", "aki")
    ramdisk = _upload(qemu_cloud, admin, guest.initrd, "guest-initrd", "ari", "ari")
    image = _upload(qemu_cloud, admin, guest.disk, "guest", "bare", "qcow2", kernel_id=kernel,
                    ramdisk_id=ramdisk, os_command_line=guest.cmdline)
    # m1.tiny (1 vCPU, 512 MiB, 1 GiB disk) fits the guest and its 64 MiB disk.
    resp = admin.post(qemu_cloud.compute_url + "/servers", timeout=30, json={
        "server": {"name": "real-guest", "flavorRef": "1", "imageRef": image}})
    assert resp.status_code == 202, resp.text
    uuid = resp.json()["server"]["id"]
    url = f"{qemu_cloud.compute_url}/servers/{uuid}"
    instance_dir = qemu_cloud.state_dir / "cell1" / "hosts" / HOST / "instances" / uuid
    try:
        server = wait_status(admin, url, {"ACTIVE"}, timeout=ACTIVE_TIMEOUT)
        assert server["OS-EXT-SRV-ATTR:host"] == HOST
        assert _domain_state(uuid) == libvirt.VIR_DOMAIN_RUNNING
        _read_console(instance_dir / "console.log", guest.marker, MARKER_TIMEOUT)
    finally:
        resp = admin.delete(url, timeout=30)
        assert resp.status_code in (204, 404), resp.text
        wait_status(admin, url, {"DELETED"}, timeout=60)
    assert _domain_state(uuid) is None
    assert not instance_dir.exists()
    disks = qemu_cloud.state_dir / "cell1" / "hosts" / HOST / "disks"
    assert not (disks / f"{uuid}.qcow2").exists()


def _boot(cloud: RunningCloud, session: requests.Session, name: str, image: str) -> str:
    resp = session.post(cloud.compute_url + "/servers", timeout=30, json={
        "server": {"name": name, "flavorRef": "1", "imageRef": image}})
    assert resp.status_code == 202, resp.text
    return str(resp.json()["server"]["id"])


def _delete(cloud: RunningCloud, session: requests.Session, uuid: str) -> None:
    url = f"{cloud.compute_url}/servers/{uuid}"
    resp = session.delete(url, timeout=30)
    assert resp.status_code in (204, 404), resp.text
    wait_status(session, url, {"DELETED"}, timeout=60)


def test_snapshot_of_a_running_real_guest_boots_again(guest, qemu_cloud, admin, tmp_path):
    kernel = _upload(qemu_cloud, admin, guest.kernel, "snap-kernel", "aki", "aki")
    ramdisk = _upload(qemu_cloud, admin, guest.initrd, "snap-initrd", "ari", "ari")
    base = _upload(qemu_cloud, admin, guest.disk, "snap-base", "bare", "qcow2", kernel_id=kernel,
                   ramdisk_id=ramdisk, os_command_line=guest.cmdline)
    hosts = qemu_cloud.state_dir / "cell1" / "hosts" / HOST
    source = _boot(qemu_cloud, admin, "snap-source", base)
    copy = None
    try:
        wait_status(admin, f"{qemu_cloud.compute_url}/servers/{source}", {"ACTIVE"}, timeout=ACTIVE_TIMEOUT)
        _read_console(hosts / "instances" / source / "console.log", guest.marker, MARKER_TIMEOUT)
        resp = admin.post(f"{qemu_cloud.compute_url}/servers/{source}/action", timeout=30,
                          json={"createImage": {"name": "real-snapshot"}})
        assert resp.status_code == 202, resp.text
        image_url = resp.headers["Location"]
        deadline = time.monotonic() + ACTIVE_TIMEOUT
        while (image := admin.get(image_url, timeout=30).json())["status"] != "active":
            assert time.monotonic() < deadline, f"snapshot still {image['status']}"
            time.sleep(0.5)
        assert (image["disk_format"], image["kernel_id"], image["ramdisk_id"]) == ("qcow2", kernel, ramdisk)
        # One self-contained qcow2: the overlay and its base, no backing file.
        saved = tmp_path / "snapshot.qcow2"
        saved.write_bytes(admin.get(image_url + "/file", timeout=120).content)
        info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(saved)],
                                         capture_output=True, text=True, check=True).stdout)
        assert info["format"] == "qcow2" and "backing-filename" not in info
        assert info["virtual-size"] == 2**30  # the flavor's 1 GiB disk
        assert _domain_state(source) == libvirt.VIR_DOMAIN_RUNNING  # resumed after the copy
        assert list((hosts / "snapshots").iterdir()) == []

        copy = _boot(qemu_cloud, admin, "snap-copy", image["id"])
        wait_status(admin, f"{qemu_cloud.compute_url}/servers/{copy}", {"ACTIVE"}, timeout=ACTIVE_TIMEOUT)
        _read_console(hosts / "instances" / copy / "console.log", guest.marker, MARKER_TIMEOUT)
    finally:
        for uuid in (source, copy):
            if uuid:
                _delete(qemu_cloud, admin, uuid)
