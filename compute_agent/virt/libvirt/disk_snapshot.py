"""Flat images of guest disks, for snapshots.

A guest's disk is a qcow2 overlay over the host's cached base image. Its
snapshot is one self-contained image of the overlay and its backing chain,
made by ``qemu-img convert`` into a file of the host's state directory:

- A running guest is paused for the copy and resumed after it, whatever
  happens. QEMU drains and flushes its disks when it pauses, so the copy
  holds everything the guest wrote, as after a power cut (crash-consistent,
  like Nova's snapshots of guests without a guest agent). Pausing is the
  simplest correct way; a live block copy would spare the guest the pause
  at the price of tracking a job.
- ``-U`` (force share) lets qemu-img read an image that a QEMU process
  holds locked; the pause is what makes the read consistent.

A simulated host (libvirt's test driver) never writes a disk: its guests'
disks are their base images, whose file is the snapshot.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import libvirt  # type: ignore[import-untyped]

from compute_agent.virt.driver import HypervisorError

LOG = logging.getLogger(__name__)

QEMU_IMG = "qemu-img"


@contextlib.contextmanager
def paused(dom: Any) -> Iterator[None]:
    """Pause the domain while the block runs if it is running; resume it after, whatever happens."""
    try:
        running = dom.isActive() and dom.state()[0] == libvirt.VIR_DOMAIN_RUNNING
        if running:
            dom.suspend()
    except libvirt.libvirtError as exc:
        raise HypervisorError(f"cannot pause {dom.name()} for its snapshot: "
                              f"{exc.get_error_message()}") from exc
    try:
        yield
    finally:
        if running:
            try:
                dom.resume()
            except libvirt.libvirtError as exc:
                # The agent's resync sees the paused power state; an operator or a reboot resumes it.
                LOG.error("cannot resume %s after its snapshot: %s", dom.name(), exc.get_error_message())
                raise HypervisorError(f"{dom.name()} stays paused after its snapshot: "
                                      f"{exc.get_error_message()}") from exc


def convert(source: str, target: str, disk_format: str, timeout: float) -> None:
    """Write the image ``source`` (with its backing chain) as one ``disk_format`` file at ``target``.

    Raises HypervisorError if qemu-img is missing, fails or runs past ``timeout``;
    no partial ``target`` is left then.
    """
    command = [QEMU_IMG, "convert", "-U", "-O", disk_format, source, target]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise HypervisorError("qemu-img is not installed on this host (package qemu-utils)") from exc
    except subprocess.TimeoutExpired as exc:
        _remove(target)
        raise HypervisorError(f"qemu-img convert of {source} took longer than {timeout:.0f}s") from exc
    if result.returncode != 0:
        _remove(target)
        lines = (result.stderr or result.stdout).strip().splitlines()
        detail = lines[-1] if lines else f"exit status {result.returncode}"
        raise HypervisorError(f"qemu-img convert of {source} failed: {detail}")


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
