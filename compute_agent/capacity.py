"""The host's own capacity guard: the test driver enforces none, so the agent does.

The scheduler's claim in the database is the normal guard; this in-memory
check only stops a build that would overrun the host (a stale claim, a
message for the wrong host) before libvirt is asked.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from compute_agent.errors import InsufficientCapacity


@dataclass(frozen=True)
class Resources:
    vcpus: int
    memory_mb: int
    disk_gb: int

    def __add__(self, other: Resources) -> Resources:
        return Resources(self.vcpus + other.vcpus, self.memory_mb + other.memory_mb,
                         self.disk_gb + other.disk_gb)

    def fits_in(self, limits: Resources) -> bool:
        return (self.vcpus <= limits.vcpus and self.memory_mb <= limits.memory_mb
                and self.disk_gb <= limits.disk_gb)


ZERO = Resources(0, 0, 0)


def limits_of(vcpus: int, memory_mb: int, disk_gb: int, cpu_ratio: float, ram_ratio: float,
              disk_ratio: float) -> Resources:
    """Return the host's limits: its physical size times the allocation ratios."""
    return Resources(int(vcpus * cpu_ratio), int(memory_mb * ram_ratio), int(disk_gb * disk_ratio))


class Capacity:
    """What this host's instances hold, by instance uuid, against fixed limits."""

    def __init__(self, limits: Resources) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._held: dict[str, Resources] = {}

    def used(self) -> Resources:
        with self._lock:
            return sum(self._held.values(), ZERO)

    def reserve(self, uuid: str, wanted: Resources) -> None:
        """Hold ``wanted`` for ``uuid`` (idempotent); raises InsufficientCapacity if it cannot fit."""
        with self._lock:
            if uuid in self._held:
                return
            total = sum(self._held.values(), wanted)
            if not total.fits_in(self.limits):
                raise InsufficientCapacity(
                    f"host cannot fit {wanted.vcpus} vCPU, {wanted.memory_mb} MiB, {wanted.disk_gb} GiB "
                    f"(limits {self.limits.vcpus} vCPU, {self.limits.memory_mb} MiB, "
                    f"{self.limits.disk_gb} GiB)")
            self._held[uuid] = wanted

    def release(self, uuid: str) -> None:
        with self._lock:
            self._held.pop(uuid, None)

    def reset(self, held: Mapping[str, Resources]) -> None:
        """Replace what is held by what the database says this host's instances hold."""
        with self._lock:
            self._held = dict(held)
