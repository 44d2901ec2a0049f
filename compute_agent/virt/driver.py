"""The interface between the agent and a hypervisor, and the plain data crossing it.

The agent speaks only in instance uuids, power states (cells.states numbering)
and GuestSpec; a driver turns them into hypervisor calls. Every call blocks and
is made from a worker thread.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from cells.exception import CloudError, NotFound


class InstanceNotFound(NotFound):
    """The hypervisor has no domain for this instance."""


class HypervisorError(CloudError):
    """The hypervisor refused or failed an operation; retrying the same call will not help."""


class HypervisorUnavailable(HypervisorError):
    """The hypervisor could not be reached; the operation may succeed later."""

    transient = True


@dataclass(frozen=True)
class HostFacts:
    """What a hypervisor says about itself; the compute_nodes row is built from it."""

    hypervisor_type: str
    hypervisor_hostname: str
    cpu_model: str
    vcpus: int
    memory_mb: int


@dataclass(frozen=True)
class GuestSpec:
    """Everything needed to (re)create one guest: flavor, image and local paths.

    Saved next to the console log so a guest whose domain vanished can be
    recreated without the original build message.
    """

    uuid: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    image_path: str
    image_format: str
    console_log: str
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None
    # Known image properties (cells.image_properties) the domain XML honours.
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def domain_name(self) -> str:
        return f"instance-{self.uuid}"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GuestSpec:
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class DiskImage:
    """A flat image of a guest's disk for a snapshot: a file, and whether it was made for the caller."""

    path: str
    temporary: bool  # the caller deletes it once uploaded


@dataclass(frozen=True)
class DiskCounters:
    """Cumulative I/O of one guest disk since the guest started."""

    device: str
    read_bytes: int
    read_requests: int
    write_bytes: int
    write_requests: int


@dataclass(frozen=True)
class NicCounters:
    """Cumulative traffic of one guest NIC since the guest started (rx: into the guest)."""

    device: str
    rx_bytes: int
    rx_packets: int
    tx_bytes: int
    tx_packets: int


@dataclass(frozen=True)
class GuestCounters:
    """Raw usage counters of one running guest, read at ``read_at`` (seconds since the epoch)."""

    uuid: str
    read_at: float
    vcpus: int
    cpu_time_ns: int
    memory_used_kib: int
    memory_available_kib: int
    disks: tuple[DiskCounters, ...] = ()
    nics: tuple[NicCounters, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Return the counters as plain data (what metering's pollsters consume)."""
        return asdict(self)


# Called with (uuid, power_state) when a guest stops or crashes on its own.
LifecycleHandler = Callable[[str, int], None]


class ComputeDriver(abc.ABC):
    """One hypervisor host. Methods block; missing guests raise InstanceNotFound."""

    @abc.abstractmethod
    def host_facts(self) -> HostFacts:
        """Return the host's CPU count and model, RAM and hypervisor type."""

    @abc.abstractmethod
    def list_instances(self) -> dict[str, int]:
        """Return {uuid: power_state} of every instance domain; raises HypervisorError if unknown."""

    @abc.abstractmethod
    def power_state(self, uuid: str) -> int:
        """Return the guest's power state; raises InstanceNotFound."""

    @abc.abstractmethod
    def spawn(self, spec: GuestSpec, start: bool = True) -> None:
        """Create the disk and domain if missing, and start the guest if ``start``. Idempotent."""

    @abc.abstractmethod
    def power_off(self, uuid: str, timeout: float) -> None:
        """Shut the guest down, forcing it off after ``timeout`` seconds; raises InstanceNotFound."""

    @abc.abstractmethod
    def power_on(self, uuid: str) -> None:
        """Start a stopped guest (no-op if running); raises InstanceNotFound."""

    @abc.abstractmethod
    def reboot(self, uuid: str, hard: bool) -> None:
        """Reboot the guest: soft asks the guest, hard resets it; raises InstanceNotFound."""

    @abc.abstractmethod
    def snapshot_disk(self, spec: GuestSpec, disk_format: str, target: str, timeout: float) -> DiskImage:
        """Return one self-contained image of the guest's disk in ``disk_format``.

        A consistent copy, written to ``target`` if the disk must be copied
        (the guest may pause meanwhile, never longer than ``timeout``).
        Raises InstanceNotFound, or HypervisorError if it cannot be made.
        """

    @abc.abstractmethod
    def guest_counters(self, uuid: str) -> GuestCounters | None:
        """Return the usage counters of a running guest, None if it is not running.

        Raises InstanceNotFound if the guest is gone, HypervisorError if it cannot be read.
        """

    @abc.abstractmethod
    def destroy(self, uuid: str) -> None:
        """Stop and undefine the guest and delete its disk; a missing guest is fine."""

    def set_lifecycle_handler(self, handler: LifecycleHandler) -> None:
        """Ask to be told when guests stop or crash on their own (optional for a driver)."""
        del handler  # a driver without events never calls it

    def close(self) -> None:
        """Release the hypervisor connection."""
        return None
