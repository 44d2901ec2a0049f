"""Start virtlogd and libvirtd in the background (no systemd here), and stop what we started.

    python tests/guest/libvirtd.py start|stop|status

``/dev/kvm`` is given group ``kvm`` and mode 0660 first: without that every
libvirt call re-probes QEMU and takes tens of seconds. The PIDs of the
daemons started are kept in ``tests/guest/out/libvirtd.pids`` so ``stop``
ends exactly those.
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
PID_FILE = os.path.join(HERE, "out", "libvirtd.pids")
SOCKETS = ("/run/libvirt/libvirt-sock", "/var/run/libvirt/libvirt-sock")
DAEMONS = ("virtlogd", "libvirtd")


class DaemonError(RuntimeError):
    """libvirtd cannot run here (not root, not installed, did not come up)."""


@dataclass
class Daemons:
    """The daemons this module started (empty if libvirtd was already running)."""

    pids: dict[str, int] = field(default_factory=dict)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the daemons we started, by PID."""
        for name in reversed(DAEMONS):
            pid = self.pids.pop(name, None)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def running() -> bool:
    """True if a libvirtd answers on its system socket."""
    for path in SOCKETS:
        if os.path.exists(path):
            with socket.socket(socket.AF_UNIX) as s:
                try:
                    s.connect(path)
                    return True
                except OSError:
                    continue
    return False


def _prepare_kvm() -> None:
    if os.path.exists("/dev/kvm"):
        try:
            os.chown("/dev/kvm", -1, grp.getgrnam("kvm").gr_gid)
        except KeyError:
            pass
        os.chmod("/dev/kvm", 0o660)


def start(timeout: float = 60.0) -> Daemons:
    """Start virtlogd and libvirtd unless libvirtd already runs; returns what was started.

    Raises DaemonError with the reason when that is not possible here.
    """
    if running():
        return Daemons()
    if os.geteuid() != 0:
        raise DaemonError("starting libvirtd needs root")
    missing = [d for d in DAEMONS if shutil.which(d) is None]
    if missing:
        raise DaemonError(f"{', '.join(missing)} not installed (apt-get install libvirt-daemon-system)")
    _prepare_kvm()
    os.makedirs("/run/libvirt", exist_ok=True)
    started = Daemons()
    for name in DAEMONS:
        process = subprocess.Popen([name], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        started.pids[name] = process.pid
    deadline = time.monotonic() + timeout
    while not running():
        if time.monotonic() > deadline or not _alive(started.pids["libvirtd"]):
            started.stop()
            raise DaemonError("libvirtd did not come up")
        time.sleep(0.2)
    return started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run libvirtd without systemd, for the guest tests.")
    parser.add_argument("command", choices=["start", "stop", "status"])
    args = parser.parse_args(argv)
    if args.command == "status":
        print("running" if running() else "not running")
        return 0 if running() else 1
    if args.command == "start":
        try:
            daemons = start()
        except DaemonError as exc:
            print(f"libvirtd: {exc}", file=sys.stderr)
            return 1
        if daemons.pids:
            os.makedirs(os.path.dirname(PID_FILE), exist_ok=True)
            with open(PID_FILE, "w") as f:
                json.dump(daemons.pids, f)
        print("started" if daemons.pids else "already running")
        return 0
    try:
        with open(PID_FILE) as f:
            pids = json.load(f)
    except FileNotFoundError:
        print("nothing started by this script")
        return 0
    Daemons(pids).stop()
    os.unlink(PID_FILE)
    print("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
