"""Read one running domain's usage counters through libvirt's per-domain stats calls.

getAllDomainStats would do it in one call on QEMU, but the test driver
answers only its ``state.*`` group there, so the per-domain calls serve both.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import libvirt  # type: ignore[import-untyped]

from compute_agent.virt.driver import DiskCounters, GuestCounters, NicCounters


def devices(document: str) -> tuple[list[str], list[str]]:
    """Return the target names of the guest's disks and NICs, read from its domain XML.

    NIC names come from the live XML: libvirt names a device it created
    itself (a ``user`` NIC has no name in our XML).
    """
    root = ET.fromstring(document)
    disks = [t.get("dev", "") for t in root.findall("devices/disk[@device='disk']/target")]
    nics = [t.get("dev", "") for t in root.findall("devices/interface/target")]
    return [d for d in disks if d], [n for n in nics if n]


def memory_kib(stats: dict[str, int], current_kib: int) -> tuple[int, int]:
    """Return (used, available) KiB from memoryStats(); the balloon's view when the guest reports one."""
    available = stats.get("available") or stats.get("actual") or current_kib
    if "unused" in stats and "available" in stats:
        used = available - stats["unused"]
    else:  # no guest agent statistics: what the host sees the guest occupy
        used = stats.get("rss", available)
    return max(0, int(used)), int(available)


def read(dom: libvirt.virDomain, uuid: str, now: float) -> GuestCounters:
    """Return the counters of a running domain; raises libvirt.libvirtError."""
    info = dom.info()  # [state, max KiB, current KiB, vCPUs, cpu time ns]
    cpu = dom.getCPUStats(True)[0]
    used, available = memory_kib(dom.memoryStats(), int(info[2]))
    disk_names, nic_names = devices(dom.XMLDesc(0))
    disks = []
    for name in disk_names:
        rd_req, rd_bytes, wr_req, wr_bytes, _errors = dom.blockStats(name)
        disks.append(DiskCounters(name, int(rd_bytes), int(rd_req), int(wr_bytes), int(wr_req)))
    nics = []
    for name in nic_names:
        stats = dom.interfaceStats(name)  # rx bytes, packets, errs, drop, tx bytes, packets, ...
        nics.append(NicCounters(name, int(stats[0]), int(stats[1]), int(stats[4]), int(stats[5])))
    return GuestCounters(uuid=uuid, read_at=now, vcpus=int(info[3]),
                         cpu_time_ns=int(cpu.get("cpu_time", info[4])),
                         memory_used_kib=used, memory_available_kib=available,
                         disks=tuple(disks), nics=tuple(nics))
