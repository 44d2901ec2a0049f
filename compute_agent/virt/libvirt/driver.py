"""ComputeDriver over libvirt: the test driver for simulated hosts, QEMU/KVM for real ones.

Guests are domains named ``instance-<uuid>``; their disks are qcow2 volumes
``<uuid>.qcow2`` in one directory pool per host, layered over the cached
image. The same calls run against ``test://`` and ``qemu:///system``.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
import xml.etree.ElementTree as ET
from typing import Any

import libvirt  # type: ignore[import-untyped]

from cells import states
from compute_agent.virt import driver
from compute_agent.virt.driver import (
    DiskImage,
    GuestCounters,
    GuestSpec,
    HostFacts,
    HypervisorError,
    HypervisorUnavailable,
    InstanceNotFound,
    LifecycleHandler,
)
from compute_agent.virt.libvirt import disk_snapshot, events, simulated_usage, stats, xml

LOG = logging.getLogger(__name__)

_PREFIX = "instance-"
_GiB = 2**30

# libvirt's domain states -> power states in the agent's (Nova's) numbering.
_POWER = {
    libvirt.VIR_DOMAIN_NOSTATE: states.NOSTATE,
    libvirt.VIR_DOMAIN_RUNNING: states.RUNNING,
    libvirt.VIR_DOMAIN_BLOCKED: states.RUNNING,
    libvirt.VIR_DOMAIN_PAUSED: states.PAUSED,
    libvirt.VIR_DOMAIN_SHUTDOWN: states.SHUTDOWN,
    libvirt.VIR_DOMAIN_SHUTOFF: states.SHUTDOWN,
    libvirt.VIR_DOMAIN_CRASHED: states.CRASHED,
    libvirt.VIR_DOMAIN_PMSUSPENDED: states.SUSPENDED,
}

# Errors meaning the daemon or its socket went away: worth a retry after reconnecting.
_UNAVAILABLE = {libvirt.VIR_ERR_SYSTEM_ERROR, libvirt.VIR_ERR_NO_CONNECT, libvirt.VIR_ERR_INVALID_CONN,
                libvirt.VIR_ERR_RPC, libvirt.VIR_ERR_OPERATION_TIMEOUT}


def _silence(_ctx: Any, _err: Any) -> None:
    """libvirt prints every error on stderr unless a handler is registered; ours raise instead."""


def translate(exc: libvirt.libvirtError, what: str) -> Exception:
    """Return the driver error for a libvirt error met while doing ``what``."""
    code = exc.get_error_code()
    message = f"{what}: {exc.get_error_message() or exc}"
    if code == libvirt.VIR_ERR_NO_DOMAIN:
        return InstanceNotFound(message)
    if code in _UNAVAILABLE or exc.get_error_domain() == libvirt.VIR_FROM_RPC:
        return HypervisorUnavailable(message)
    return HypervisorError(message)


def virtual_size(path: str, disk_format: str) -> int:
    """Return the guest-visible size in bytes of a raw or qcow2 image file."""
    if disk_format == "qcow2":
        with open(path, "rb") as f:
            header = f.read(32)
        if len(header) < 32 or header[:4] != b"QFI\xfb":
            raise HypervisorError(f"{path} is not a qcow2 image")
        return int(struct.unpack(">Q", header[24:32])[0])
    return os.path.getsize(path)


class LibvirtDriver(driver.ComputeDriver):
    """One libvirt connection and one disk pool; thread-safe like the connection itself."""

    def __init__(self, uri: str, virt_type: str, pool_name: str, pool_path: str,
                 hostname: str | None = None, lifecycle_events: bool = True,
                 owner: str | None = None, guest_network: str = "user") -> None:
        libvirt.registerErrorHandler(_silence, None)
        self.uri = uri
        self.virt_type = virt_type
        self.pool_name = pool_name
        self.pool_path = pool_path
        self.hostname = hostname
        # The agent's host: guests are tagged with it, and only tagged ones are ours.
        self.owner = owner
        self.guest_network = guest_network
        self._lifecycle_events = lifecycle_events
        self._handler: LifecycleHandler | None = None
        self._callback_id: int | None = None
        self._lock = threading.Lock()
        # A test:// connection holds the simulated host itself: reopening would empty it.
        self._reconnectable = not uri.startswith("test:")
        # Simulated hosts only: when each guest last started, for the usage model's counters.
        self._started_at: dict[str, float] = {}
        if lifecycle_events:
            events.ensure_event_loop()
        self._conn = self._open()
        self._ensure_pool()

    # --- connection ------------------------------------------------------------

    def _open(self) -> libvirt.virConnect:
        try:
            return libvirt.open(self.uri)
        except libvirt.libvirtError as exc:
            raise HypervisorUnavailable(f"cannot open {self.uri}: {exc.get_error_message()}") from exc

    def conn(self) -> libvirt.virConnect:
        """Return the connection, reopening it if a real daemon dropped it."""
        if self._reconnectable and not self._conn.isAlive():
            with self._lock:
                if not self._conn.isAlive():
                    LOG.warning("libvirt connection to %s lost, reconnecting", self.uri)
                    self._conn = self._open()
                    self._callback_id = None
                    if self._handler:
                        self._register_events()
        return self._conn

    def close(self) -> None:
        try:
            if self._callback_id is not None:
                self._conn.domainEventDeregisterAny(self._callback_id)
            self._conn.close()
        except libvirt.libvirtError:
            LOG.debug("closing %s failed", self.uri, exc_info=True)

    def _ensure_pool(self) -> libvirt.virStoragePool:
        os.makedirs(self.pool_path, mode=0o755, exist_ok=True)
        conn = self.conn()
        try:
            pool = conn.storagePoolLookupByName(self.pool_name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_POOL:
                raise translate(exc, f"looking up pool {self.pool_name}") from exc
            try:
                pool = conn.storagePoolDefineXML(xml.pool_xml(self.pool_name, self.pool_path), 0)
                pool.setAutostart(1)
            except libvirt.libvirtError as exc2:
                raise translate(exc2, f"defining pool {self.pool_name}") from exc2
        else:
            self._check_pool_path(pool)
        try:
            if not pool.isActive():
                pool.create(0)
        except libvirt.libvirtError as exc:
            raise translate(exc, f"starting pool {self.pool_name}") from exc
        return pool

    def _check_pool_path(self, pool: libvirt.virStoragePool) -> None:
        """Refuse a pool of our name that points elsewhere: disks would land in the wrong place."""
        try:
            target = ET.fromstring(pool.XMLDesc(0)).findtext("target/path")
        except (libvirt.libvirtError, ET.ParseError) as exc:
            raise HypervisorError(f"cannot read pool {self.pool_name}: {exc}") from exc
        if target and os.path.realpath(target) != os.path.realpath(self.pool_path):
            raise HypervisorError(
                f"libvirt pool {self.pool_name} points to {target}, not {self.pool_path}; "
                f"another state directory uses this host name (undefine the pool to move it)")

    def _pool(self) -> libvirt.virStoragePool:
        try:
            return self.conn().storagePoolLookupByName(self.pool_name)
        except libvirt.libvirtError:
            return self._ensure_pool()

    # --- facts -----------------------------------------------------------------

    def host_facts(self) -> HostFacts:
        try:
            info = self.conn().getInfo()
            hv_type = self.conn().getType()
            hostname = self.hostname or self.conn().getHostname()
        except libvirt.libvirtError as exc:
            raise translate(exc, "reading host facts") from exc
        return HostFacts(hypervisor_type=hv_type, hypervisor_hostname=hostname,
                         cpu_model=str(info[0]), vcpus=int(info[2]), memory_mb=int(info[1]))

    def list_instances(self) -> dict[str, int]:
        try:
            domains = self.conn().listAllDomains(0)
            return {d.UUIDString(): _POWER.get(d.state()[0], states.NOSTATE)
                    for d in domains if self._owns(d)}
        except libvirt.libvirtError as exc:
            raise translate(exc, "listing domains") from exc

    def _owns(self, dom: libvirt.virDomain) -> bool:
        """True if the domain is one of this agent's guests (by name, then owner tag)."""
        if not dom.name().startswith(_PREFIX):
            return False
        if self.owner is None:
            return True
        try:
            metadata = dom.metadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, xml.METADATA_NS, 0)
        except libvirt.libvirtError:
            return False  # untagged: not created by an agent of ours
        return xml.owner_of(metadata) == self.owner

    def _domain(self, uuid: str) -> libvirt.virDomain:
        try:
            return self.conn().lookupByUUIDString(uuid)
        except libvirt.libvirtError as exc:
            raise translate(exc, f"looking up instance {uuid}") from exc

    def power_state(self, uuid: str) -> int:
        dom = self._domain(uuid)
        try:
            return _POWER.get(dom.state()[0], states.NOSTATE)
        except libvirt.libvirtError as exc:
            raise translate(exc, f"reading state of {uuid}") from exc

    # --- lifecycle -------------------------------------------------------------

    def _volume(self, spec: GuestSpec) -> libvirt.virStorageVol:
        pool = self._pool()
        name = f"{spec.uuid}.qcow2"
        try:
            return pool.storageVolLookupByName(name)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:
                raise translate(exc, f"looking up volume {name}") from exc
        capacity = max(spec.disk_gb * _GiB, virtual_size(spec.image_path, spec.image_format))
        document = xml.volume_xml(name, capacity, spec.image_path, spec.image_format)
        try:
            return pool.createXML(document, 0)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_STORAGE_VOL_EXIST:
                # The file is there but the pool had not seen it (e.g. after a daemon restart).
                pool.refresh(0)
                return pool.storageVolLookupByName(name)
            raise translate(exc, f"creating volume {name}") from exc

    def spawn(self, spec: GuestSpec, start: bool = True) -> None:
        volume = self._volume(spec)
        try:
            dom = self.conn().lookupByUUIDString(spec.uuid)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise translate(exc, f"looking up instance {spec.uuid}") from exc
            try:
                dom = self.conn().defineXML(xml.domain_xml(spec, volume.path(), self.virt_type,
                                                               self.owner, network=self.guest_network))
            except libvirt.libvirtError as exc2:
                raise translate(exc2, f"defining instance {spec.uuid}") from exc2
        try:
            if start and not dom.isActive():
                dom.create()
                self._started(spec.uuid)
        except libvirt.libvirtError as exc:
            raise translate(exc, f"starting instance {spec.uuid}") from exc

    def power_off(self, uuid: str, timeout: float) -> None:
        dom = self._domain(uuid)
        try:
            if not dom.isActive():
                return
            deadline = time.monotonic() + timeout
            if timeout > 0:
                dom.shutdown()
                while dom.isActive() and time.monotonic() < deadline:
                    time.sleep(0.2)
            if dom.isActive():
                dom.destroy()
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID and not dom.isActive():
                return  # it stopped between our check and our call
            raise translate(exc, f"powering off {uuid}") from exc

    def power_on(self, uuid: str) -> None:
        dom = self._domain(uuid)
        try:
            if not dom.isActive():
                dom.create()
                self._started(uuid)
        except libvirt.libvirtError as exc:
            raise translate(exc, f"powering on {uuid}") from exc

    def reboot(self, uuid: str, hard: bool) -> None:
        dom = self._domain(uuid)
        try:
            if hard or not dom.isActive():
                if dom.isActive():
                    dom.destroy()
                dom.create()
                self._started(uuid)
            else:
                dom.reboot(0)
        except libvirt.libvirtError as exc:
            raise translate(exc, f"rebooting {uuid}") from exc

    def snapshot_disk(self, spec: GuestSpec, disk_format: str, target: str, timeout: float) -> DiskImage:
        if not self._reconnectable:
            # A simulated host: its disks are never written, so the base image is the snapshot.
            if disk_format != spec.image_format:
                raise HypervisorError(f"a simulated host's snapshot is its base image, in format "
                                      f"{spec.image_format}, not {disk_format}")
            return DiskImage(spec.image_path, temporary=False)
        dom = self._domain(spec.uuid)
        try:
            disk = self._pool().storageVolLookupByName(f"{spec.uuid}.qcow2").path()
        except libvirt.libvirtError as exc:
            raise translate(exc, f"looking up the disk of {spec.uuid}") from exc
        with disk_snapshot.paused(dom):
            disk_snapshot.convert(disk, target, disk_format, timeout)
        return DiskImage(target, temporary=True)

    def destroy(self, uuid: str) -> None:
        self._started_at.pop(uuid, None)
        try:
            dom = self._domain(uuid)
        except InstanceNotFound:
            dom = None
        try:
            if dom is not None:
                if dom.isActive():
                    dom.destroy()
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                raise translate(exc, f"destroying {uuid}") from exc
        try:
            self._pool().storageVolLookupByName(f"{uuid}.qcow2").delete(0)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_NO_STORAGE_VOL:
                raise translate(exc, f"deleting the disk of {uuid}") from exc

    # --- usage -----------------------------------------------------------------

    def _started(self, uuid: str) -> None:
        if not self._reconnectable:
            self._started_at[uuid] = time.time()

    def guest_counters(self, uuid: str) -> GuestCounters | None:
        dom = self._domain(uuid)
        now = time.time()
        try:
            if not dom.isActive():
                self._started_at.pop(uuid, None)
                return None
            raw = stats.read(dom, uuid, now)
        except libvirt.libvirtError as exc:
            raise translate(exc, f"reading the counters of {uuid}") from exc
        if self._reconnectable:
            return raw
        # A guest started before this driver opened counts from its first reading.
        started = self._started_at.setdefault(uuid, now)
        return simulated_usage.model(raw, now - started)

    # --- events ----------------------------------------------------------------

    def set_lifecycle_handler(self, handler: LifecycleHandler) -> None:
        if not self._lifecycle_events:
            return
        self._handler = handler
        self._register_events()

    def _register_events(self) -> None:
        try:
            self._callback_id = self._conn.domainEventRegisterAny(
                None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_event, None)
        except libvirt.libvirtError as exc:
            LOG.warning("lifecycle events unavailable on %s: %s", self.uri, exc.get_error_message())

    def _on_event(self, _conn: Any, dom: Any, event: int, _detail: int, _opaque: Any) -> None:
        # Only stops and crashes need a look: everything else is our own doing.
        if event not in (libvirt.VIR_DOMAIN_EVENT_STOPPED, libvirt.VIR_DOMAIN_EVENT_CRASHED):
            return
        try:
            if self._handler is None or not self._owns(dom):
                return
            power = states.CRASHED if event == libvirt.VIR_DOMAIN_EVENT_CRASHED else states.SHUTDOWN
            self._handler(dom.UUIDString(), power)
        except Exception:  # noqa: BLE001 - an exception must not escape into libvirt's loop
            LOG.exception("handling a lifecycle event failed")
