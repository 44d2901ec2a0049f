"""Libvirt XML documents as pure functions: domains, volumes, pools and test-driver nodes.

No libvirt import: these are tested as text. One domain XML serves the test
driver and real QEMU/KVM alike.
"""

from __future__ import annotations

import os
import uuid as uuid_mod
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from cells.image_properties import DISK_PREFIX
from compute_agent.virt.driver import GuestSpec, HypervisorError

# UEFI firmware (read-only code) as Debian/Ubuntu's ovmf package installs it, best first.
OVMF_CODE_PATHS = ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_CODE.fd",
                   "/usr/share/qemu/OVMF.fd")

# Namespace for the uuids of pools we generate, so a path always maps to the same pool uuid.
_POOL_NS = uuid_mod.UUID("0b5b3c2e-6d0c-4f39-9d38-2f1a6f1f5c11")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _render(root: ET.Element) -> str:
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


# Our element in a domain's <metadata>: which agent (host) owns the guest.
METADATA_NS = "urn:cloud:instance:1"
METADATA_PREFIX = "cloud"


def owner_metadata(owner: str) -> str:
    """Return the metadata element naming the owning agent, as libvirt stores it."""
    return f'<instance xmlns="{METADATA_NS}"><owner>{escape(owner)}</owner></instance>'


def owner_of(metadata: str) -> str | None:
    """Return the owner named in our metadata element, or None if it names none."""
    try:
        root = ET.fromstring(metadata)
    except ET.ParseError:
        return None
    owner = root.find(f"{{{METADATA_NS}}}owner")
    if owner is None:
        owner = root.find("owner")
    return owner.text if owner is not None else None


def ovmf_code() -> str | None:
    """Return the path of the host's UEFI firmware, or None if none is installed."""
    return next((p for p in OVMF_CODE_PATHS if os.path.exists(p)), None)


def _windows(domain: ET.Element, features: ET.Element) -> None:
    # Nova's libvirt driver choices for Windows on KVM: Hyper-V enlightenments,
    # a local-time RTC that catches up, and the Hyper-V clock instead of HPET.
    hyperv = _sub(features, "hyperv")
    _sub(hyperv, "relaxed", state="on")
    _sub(hyperv, "vapic", state="on")
    _sub(hyperv, "spinlocks", state="on", retries="8191")
    clock = _sub(domain, "clock", offset="localtime")
    _sub(clock, "timer", name="rtc", tickpolicy="catchup")
    _sub(clock, "timer", name="pit", tickpolicy="delay")
    _sub(clock, "timer", name="hpet", present="no")
    _sub(clock, "timer", name="hypervclock", present="yes")


def guest_mac(instance_uuid: str) -> str:
    """Return the guest's MAC address: OpenStack's fa:16:3e prefix and three bytes of its uuid.

    Stable across rebuilds of the domain, so a guest keeps its address when its definition is recreated.
    """
    tail = uuid_mod.UUID(instance_uuid).bytes[-3:]
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in tail)


def tap_name(instance_uuid: str) -> str:
    """Return the guest's tap device name (15 characters at most, as Linux allows)."""
    return "tap" + instance_uuid.replace("-", "")[:11]


def _interface(devices: ET.Element, spec: GuestSpec, network: str) -> None:
    """Add the guest's NIC: ``user`` (QEMU user-mode NAT), ``network:NAME`` or ``bridge:NAME``."""
    if network == "none":
        return
    kind, _, source = network.partition(":")
    iface = _sub(devices, "interface", type=kind)
    _sub(iface, "mac", address=guest_mac(spec.uuid))
    if kind == "network":
        _sub(iface, "source", network=source)
    elif kind == "bridge":
        _sub(iface, "source", bridge=source)
    if kind != "user":
        # User-mode NAT has no host device; the others get a name metering can find again.
        _sub(iface, "target", dev=tap_name(spec.uuid))
    _sub(iface, "model", type=(spec.properties or {}).get("hw_vif_model", "virtio"))


def domain_xml(spec: GuestSpec, disk_path: str, virt_type: str, owner: str | None = None,
               firmware: str | None = None, network: str = "user") -> str:
    """Return the domain XML of a guest: qcow2 disk, one NIC, serial console to a file, balloon.

    ``virt_type`` is ``kvm`` or ``qemu`` (software emulation); with a kernel
    in ``spec`` the guest boots that kernel directly with ``spec.cmdline``.
    ``owner`` (the agent's host) is recorded in the domain's metadata so an
    agent sharing a hypervisor never takes another agent's guest for its own.
    The image properties in ``spec.properties`` choose the disk bus, NIC model,
    firmware (``firmware`` is the UEFI code path, found on the host if None)
    and the Windows enlightenments. Raises HypervisorError for a UEFI guest on
    a host without UEFI firmware. ``network`` is the compute section's
    ``guest_network``: ``none``, ``user``, ``network:NAME`` or ``bridge:NAME``.
    """
    if virt_type not in ("kvm", "qemu"):
        raise ValueError(f"unsupported virt_type {virt_type!r}")
    props = spec.properties or {}
    uefi = props.get("hw_firmware_type") == "uefi"
    if uefi:
        firmware = firmware or ovmf_code()
        if firmware is None:
            raise HypervisorError(f"instance {spec.uuid}: the image needs UEFI firmware and this host has "
                                  f"none (install ovmf: one of {', '.join(OVMF_CODE_PATHS)})")
    domain = ET.Element("domain", type=virt_type)
    _sub(domain, "name", spec.domain_name)
    _sub(domain, "uuid", spec.uuid)
    if owner is not None:
        metadata = _sub(domain, "metadata")
        instance = _sub(metadata, f"{{{METADATA_NS}}}instance")
        _sub(instance, f"{{{METADATA_NS}}}owner", owner)
    _sub(domain, "memory", str(spec.memory_mb), unit="MiB")
    _sub(domain, "currentMemory", str(spec.memory_mb), unit="MiB")
    _sub(domain, "vcpu", str(spec.vcpus), placement="static")
    os_el = _sub(domain, "os")
    # OVMF's secure-boot-free builds boot on pc too, but q35 is what they are tested on.
    _sub(os_el, "type", "hvm", arch="x86_64", machine="q35" if uefi else "pc")
    if uefi and firmware is not None:
        _sub(os_el, "loader", firmware, readonly="yes", type="pflash")
    if spec.kernel:
        _sub(os_el, "kernel", spec.kernel)
        if spec.initrd:
            _sub(os_el, "initrd", spec.initrd)
        if spec.cmdline:
            _sub(os_el, "cmdline", spec.cmdline)
    else:
        _sub(os_el, "boot", dev="hd")
    features = _sub(domain, "features")
    _sub(features, "acpi")
    _sub(features, "apic")
    if virt_type == "kvm":
        # Expose the host's CPU model; under emulation QEMU's default model is the safe choice.
        _sub(domain, "cpu", mode="host-model")
    if props.get("os_type") == "windows":
        _windows(domain, features)
    else:
        _sub(domain, "clock", offset="utc")
    _sub(domain, "on_poweroff", "destroy")
    _sub(domain, "on_reboot", "restart")
    _sub(domain, "on_crash", "destroy")
    devices = _sub(domain, "devices")
    disk = _sub(devices, "disk", type="file", device="disk")
    _sub(disk, "driver", name="qemu", type="qcow2")
    _sub(disk, "source", file=disk_path)
    bus = props.get("hw_disk_bus", "virtio")
    _sub(disk, "target", dev=DISK_PREFIX.get(bus, "vd") + "a", bus=bus)
    _interface(devices, spec, network)
    serial = _sub(devices, "serial", type="file")
    _sub(serial, "source", path=spec.console_log, append="on")
    _sub(serial, "target", port="0")
    # The console mirrors serial port 0, as libvirt itself would write it.
    console = _sub(devices, "console", type="file")
    _sub(console, "source", path=spec.console_log, append="on")
    _sub(console, "target", type="serial", port="0")
    balloon = _sub(devices, "memballoon", model="virtio")
    _sub(balloon, "stats", period="10")
    return _render(domain)


def volume_xml(name: str, capacity_bytes: int, backing_path: str, backing_format: str) -> str:
    """Return the XML of a qcow2 volume layered copy-on-write over ``backing_path``."""
    volume = ET.Element("volume")
    _sub(volume, "name", name)
    _sub(volume, "capacity", str(capacity_bytes), unit="bytes")
    target = _sub(volume, "target")
    _sub(target, "format", type="qcow2")
    backing = _sub(volume, "backingStore")
    _sub(backing, "path", backing_path)
    _sub(backing, "format", type=backing_format)
    return _render(volume)


def pool_uuid(path: str) -> str:
    """Return a stable uuid for the pool at ``path``."""
    return str(uuid_mod.uuid5(_POOL_NS, path))


def _pool_element(name: str, path: str) -> ET.Element:
    pool = ET.Element("pool", type="dir")
    _sub(pool, "name", name)
    _sub(pool, "uuid", pool_uuid(path))
    target = _sub(pool, "target")
    _sub(target, "path", path)
    return pool


def pool_xml(name: str, path: str) -> str:
    """Return the XML of a directory storage pool named ``name`` at ``path``."""
    return _render(_pool_element(name, path))


def node_xml(cpus: int, memory_mb: int, cpu_model: str, pool_name: str, pool_path: str,
             mhz: int = 2400) -> str:
    """Return a test-driver node document: a host with ``cpus`` cores, RAM and one disk pool.

    The test driver reports ``nodes * sockets * cores * threads`` CPUs, so all
    of them are cores of one socket.
    """
    if cpus < 1 or memory_mb < 1:
        raise ValueError("a simulated host needs at least one CPU and some memory")
    node = ET.Element("node")
    cpu = _sub(node, "cpu")
    _sub(cpu, "mhz", str(mhz))
    _sub(cpu, "model", cpu_model)
    _sub(cpu, "nodes", "1")
    _sub(cpu, "sockets", "1")
    _sub(cpu, "cores", str(cpus))
    _sub(cpu, "threads", "1")
    _sub(node, "memory", str(memory_mb * 1024))
    node.append(_pool_element(pool_name, pool_path))
    return _render(node)
