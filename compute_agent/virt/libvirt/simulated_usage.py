"""The usage model of simulated hosts: plausible, growing counters a test can predict.

libvirt's test driver answers the stats calls with figures that are either
frozen (CPU time, memory) or derived from the wall clock in nanoseconds
(hundreds of terabytes read per disk), so a simulated host replaces them
here, and only here, keeping the devices and memory size libvirt reported.
Every rate is a fixed function of the instance uuid, so counters grow
linearly with the seconds the guest has been running. docs/metering.md
describes the model.
"""

from __future__ import annotations

import dataclasses
import hashlib

from compute_agent.virt.driver import DiskCounters, GuestCounters, NicCounters

_KiB = 1024
READ_REQUEST_BYTES = 16 * _KiB
WRITE_REQUEST_BYTES = 8 * _KiB
RX_PACKET_BYTES = 1000
TX_PACKET_BYTES = 500


def _unit(uuid: str, what: str) -> float:
    """Return a number in [0, 1) fixed by ``uuid`` and ``what``."""
    digest = hashlib.sha256(f"{uuid}:{what}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


def utilisation(uuid: str) -> float:
    """Return the fraction (0.05 to 0.95) of each vCPU the guest keeps busy."""
    return 0.05 + 0.9 * _unit(uuid, "cpu")


def memory_fraction(uuid: str) -> float:
    """Return the fraction (0.3 to 0.9) of its memory the guest uses."""
    return 0.3 + 0.6 * _unit(uuid, "memory")


def disk_rates(uuid: str, device: str) -> tuple[int, int]:
    """Return (read, write) bytes per second of one disk: 64 KiB/s to 4 MiB/s each."""
    return (_KiB * (64 + int(4032 * _unit(uuid, device + ":read"))),
            _KiB * (64 + int(4032 * _unit(uuid, device + ":write"))))


def nic_rates(uuid: str, device: str) -> tuple[int, int]:
    """Return (rx, tx) bytes per second of one NIC: 1 KiB/s to 1 MiB/s each.

    Keyed by the NIC's position, not its name: libvirt may name it anew at each start.
    """
    return (_KiB * (1 + int(1023 * _unit(uuid, device + ":rx"))),
            _KiB * (1 + int(1023 * _unit(uuid, device + ":tx"))))


def model(raw: GuestCounters, running_s: float) -> GuestCounters:
    """Return ``raw`` with its counters replaced by the model's after ``running_s`` seconds of running."""
    running_s = max(0.0, running_s)
    disks = []
    for disk in raw.disks:
        read, write = disk_rates(raw.uuid, disk.device)
        rd, wr = int(read * running_s), int(write * running_s)
        disks.append(DiskCounters(disk.device, rd, rd // READ_REQUEST_BYTES, wr, wr // WRITE_REQUEST_BYTES))
    nics = []
    for index, nic in enumerate(raw.nics):
        rx_rate, tx_rate = nic_rates(raw.uuid, f"nic{index}")
        rx, tx = int(rx_rate * running_s), int(tx_rate * running_s)
        nics.append(NicCounters(nic.device, rx, rx // RX_PACKET_BYTES, tx, tx // TX_PACKET_BYTES))
    return dataclasses.replace(
        raw,
        cpu_time_ns=int(running_s * raw.vcpus * utilisation(raw.uuid) * 1e9),
        memory_used_kib=int(raw.memory_available_kib * memory_fraction(raw.uuid)),
        disks=tuple(disks), nics=tuple(nics))
