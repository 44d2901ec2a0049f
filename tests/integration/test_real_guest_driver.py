"""Boot a tiny real guest under QEMU through the agent's libvirt driver (qemu:///system, TCG).

Needs root, libvirtd (started here if it is not running), QEMU and a Debian
kernel package; skipped with the reason otherwise. The same driver code runs
the simulated hosts of the unit tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from cells import states
from compute_agent.virt.driver import GuestSpec, InstanceNotFound
from tests.guest import build_guest, libvirtd

pytestmark = pytest.mark.qemu

BOOT_TIMEOUT = 90.0


@pytest.fixture(scope="module")
def guest() -> build_guest.GuestFiles:
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    try:
        return build_guest.build()
    except build_guest.GuestBuildError as exc:
        pytest.skip(f"cannot build the test guest here: {exc}")


@pytest.fixture(scope="module")
def daemon() -> Iterator[None]:
    try:
        started = libvirtd.start()
    except libvirtd.DaemonError as exc:
        pytest.skip(f"libvirtd cannot run here: {exc}")
    yield
    started.stop()


@pytest.fixture
def driver(daemon) -> Iterator[object]:
    from compute_agent.virt.driver import HypervisorUnavailable
    from compute_agent.virt.libvirt.driver import LibvirtDriver

    name = f"cloud-test-{uuid.uuid4().hex[:8]}"
    # Under tests/guest/out: a path the QEMU user can traverse (pytest's tmp dirs are private).
    root = os.path.join(build_guest.DEFAULT_OUT, "runs", name)
    try:
        drv = LibvirtDriver("qemu:///system", "qemu", name, os.path.join(root, "disks"))
    except HypervisorUnavailable as exc:
        pytest.skip(f"qemu:///system is not usable: {exc}")
    yield drv
    pool = drv.conn().storagePoolLookupByName(name)
    pool.destroy()
    pool.undefine()
    drv.close()
    shutil.rmtree(root, ignore_errors=True)


def test_guest_boots_to_its_marker(guest, driver):
    instance = str(uuid.uuid4())
    instance_dir = os.path.join(os.path.dirname(driver.pool_path), "instances", instance)
    os.makedirs(instance_dir, mode=0o755)
    spec = GuestSpec(uuid=instance, vcpus=1, memory_mb=256, disk_gb=0, image_path=guest.disk,
                     image_format="qcow2", console_log=os.path.join(instance_dir, "console.log"),
                     kernel=guest.kernel, initrd=guest.initrd, cmdline=guest.cmdline)
    try:
        driver.spawn(spec)
        assert driver.power_state(instance) == states.RUNNING
        assert driver.list_instances() == {instance: states.RUNNING}
        deadline = time.monotonic() + BOOT_TIMEOUT
        console = ""
        while guest.marker not in console:
            assert time.monotonic() < deadline, f"no {guest.marker} in {BOOT_TIMEOUT}s:\n{console[-2000:]}"
            time.sleep(0.5)
            if os.path.exists(spec.console_log):
                with open(spec.console_log, errors="replace") as f:
                    console = f.read()
        driver.power_off(instance, timeout=0)
        assert driver.power_state(instance) == states.SHUTDOWN
        driver.reboot(instance, hard=True)
        assert driver.power_state(instance) == states.RUNNING
    finally:
        driver.destroy(instance)
    with pytest.raises(InstanceNotFound):
        driver.power_state(instance)
    assert not os.path.exists(os.path.join(driver.pool_path, f"{instance}.qcow2"))


def _qemu(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60)


def test_snapshot_of_a_running_guest_is_one_flat_image_of_its_disk(guest, driver):
    instance = str(uuid.uuid4())
    root = os.path.dirname(driver.pool_path)
    instance_dir = os.path.join(root, "instances", instance)
    os.makedirs(instance_dir, mode=0o755)
    spec = GuestSpec(uuid=instance, vcpus=1, memory_mb=256, disk_gb=0, image_path=guest.disk,
                     image_format="qcow2", console_log=os.path.join(instance_dir, "console.log"),
                     kernel=guest.kernel, initrd=guest.initrd, cmdline=guest.cmdline)
    try:
        driver.spawn(spec, start=False)
        overlay = os.path.join(driver.pool_path, f"{instance}.qcow2")
        # What the guest wrote lives in its overlay only, never in the base image.
        wrote = _qemu("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 64k", overlay)
        assert wrote.returncode == 0, wrote.stderr
        driver.power_on(instance)
        assert driver.power_state(instance) == states.RUNNING
        for disk_format in ("qcow2", "raw"):
            target = os.path.join(root, f"snapshot.{disk_format}")
            made = driver.snapshot_disk(spec, disk_format, target, timeout=60)
            assert made.path == target and made.temporary
            assert driver.power_state(instance) == states.RUNNING  # paused for the copy only
            info = json.loads(_qemu("qemu-img", "info", "--output=json", target).stdout)
            assert info["format"] == disk_format and "backing-filename" not in info
            same = _qemu("qemu-img", "compare", "-U", overlay, target)
            assert same.returncode == 0, same.stdout + same.stderr
            read = _qemu("qemu-io", "-r", "-f", disk_format, "-c", "read -P 0x5a 1M 64k", target)
            assert read.returncode == 0 and "Pattern verification failed" not in read.stdout, read.stdout
            os.unlink(target)
    finally:
        driver.destroy(instance)
