"""Build a tiny real guest: a Debian kernel, a busybox initramfs printing a marker, an empty disk.

Everything lands in ``tests/guest/out/`` (git-ignored) and is reused on the
next run. The kernel comes from Debian's package (``apt-get download``, no
installation); its uncompressed ``vmlinux`` (the xz stream inside
``vmlinuz``) boots under QEMU's software emulation in seconds. The
initramfs's ``/init`` prints ``MARKER`` to the serial console and sleeps.

    python tests/guest/build_guest.py [--out DIR]     # prints the paths as JSON

or, from Python, ``build(out_dir) -> GuestFiles``.
"""

from __future__ import annotations

import argparse
import glob
import json
import lzma
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "out")
MARKER = "CLOUD-GUEST-BOOTED"
CMDLINE = "console=ttyS0 panic=-1 quiet"
_XZ_MAGIC = b"\xfd7zXZ\x00"

INIT = f"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev
/bin/busybox mount -t devtmpfs devtmpfs /dev 2>/dev/null
/bin/busybox mount -t proc proc /proc
for i in 1 2 3; do echo "{MARKER}"; done
exec /bin/busybox sh -c 'while true; do /bin/busybox sleep 3600; done'
"""


class GuestBuildError(RuntimeError):
    """The guest cannot be built here (no kernel package, no busybox, no qemu-img)."""


@dataclass(frozen=True)
class GuestFiles:
    kernel: str
    initrd: str
    disk: str
    cmdline: str = CMDLINE
    marker: str = MARKER


def _run(cmd: list[str], cwd: str | None = None) -> str:
    try:
        result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GuestBuildError(f"{cmd[0]} failed: {exc}") from exc
    if result.returncode != 0:
        raise GuestBuildError(f"{' '.join(cmd)} failed: {result.stderr.strip()[-300:]}")
    return result.stdout


def kernel_package() -> str:
    """Return the Debian kernel package to use: the running kernel's if Debian has it, else the newest."""
    running = f"linux-image-{platform.release()}"
    if subprocess.run(["apt-cache", "show", running], capture_output=True).returncode == 0:
        return running
    depends = _run(["apt-cache", "depends", "linux-image-amd64"])
    found = re.findall(r"Depends:\s*(linux-image-[\w.+-]+-amd64)", depends)
    if not found:
        raise GuestBuildError("no linux-image-*-amd64 package is known to apt")
    return found[0]


def _kernel(out: str) -> str:
    vmlinux = os.path.join(out, "vmlinux")
    if os.path.exists(vmlinux):
        return vmlinux
    debs = os.path.join(out, "debs")
    os.makedirs(debs, exist_ok=True)
    package = kernel_package()
    if not glob.glob(os.path.join(debs, f"{package}_*.deb")):
        _run(["apt-get", "download", "-q", package], cwd=debs)
    deb = sorted(glob.glob(os.path.join(debs, f"{package}_*.deb")))[-1]
    root = os.path.join(out, "kernel-root")
    shutil.rmtree(root, ignore_errors=True)
    _run(["dpkg-deb", "-x", deb, root])
    vmlinuz = sorted(glob.glob(os.path.join(root, "boot", "vmlinuz-*")))[-1]
    data = open(vmlinuz, "rb").read()
    start = data.find(_XZ_MAGIC)
    tmp = vmlinux + ".tmp"
    if start < 0:
        shutil.copyfile(vmlinuz, tmp)  # not xz-packed: the compressed kernel boots too, slower
    else:
        with open(tmp, "wb") as f:
            f.write(lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data[start:]))
    os.replace(tmp, vmlinux)
    shutil.rmtree(root, ignore_errors=True)
    return vmlinux


def _cpio_entry(name: str, mode: int, data: bytes = b"", ino: int = 1) -> bytes:
    """One entry of a newc cpio archive (the format the kernel unpacks as initramfs)."""
    encoded = name.encode() + b"\0"
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(encoded), 0]
    header = b"070701" + b"".join(f"{v:08x}".encode() for v in fields)
    entry = header + encoded
    entry += b"\0" * (-len(entry) % 4)
    return entry + data + b"\0" * (-len(data) % 4)


def initramfs_bytes(busybox: bytes, init: str = INIT) -> bytes:
    """Return an uncompressed newc initramfs with /init and /bin/busybox."""
    entries = [("bin", 0o040755, b""), ("dev", 0o040755, b""), ("proc", 0o040755, b""),
               ("sys", 0o040755, b""), ("bin/busybox", 0o100755, busybox),
               ("bin/sh", 0o120777, b"busybox"), ("init", 0o100755, init.encode())]
    archive = b"".join(_cpio_entry(n, m, d, i) for i, (n, m, d) in enumerate(entries, start=1))
    return archive + _cpio_entry("TRAILER!!!", 0, b"", 0)


def _initrd(out: str) -> str:
    path = os.path.join(out, "initramfs.cpio")
    busybox = shutil.which("busybox")
    if busybox is None:
        raise GuestBuildError("busybox is not installed (apt-get install busybox-static)")
    with open(busybox, "rb") as f:
        content = initramfs_bytes(f.read())
    if not os.path.exists(path) or open(path, "rb").read() != content:
        with open(path + ".tmp", "wb") as f:
            f.write(content)
        os.replace(path + ".tmp", path)
    return path


def _disk(out: str) -> str:
    path = os.path.join(out, "disk.qcow2")
    if not os.path.exists(path):
        if shutil.which("qemu-img") is None:
            raise GuestBuildError("qemu-img is not installed (apt-get install qemu-utils)")
        _run(["qemu-img", "create", "-q", "-f", "qcow2", path + ".tmp", "64M"])
        os.replace(path + ".tmp", path)
    return path


def build(out_dir: str = DEFAULT_OUT) -> GuestFiles:
    """Build (or reuse) the guest in ``out_dir``; returns its files. Raises GuestBuildError."""
    out = os.path.abspath(out_dir)
    os.makedirs(out, mode=0o755, exist_ok=True)
    files = GuestFiles(kernel=_kernel(out), initrd=_initrd(out), disk=_disk(out))
    for path in (files.kernel, files.initrd, files.disk):
        os.chmod(path, 0o644)  # QEMU runs as another user
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the tiny test guest.")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    try:
        files = build(args.out)
    except GuestBuildError as exc:
        print(f"build_guest: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(files), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
