"""What a weigher is: a pure sort key over host states, larger is better."""

from __future__ import annotations

from typing import Protocol

from scheduler.host_state import HostState


class Weigher(Protocol):
    name: str

    def key(self, host: HostState) -> tuple[float, ...]:
        """Return the host's rank; the scheduler prefers the largest."""
        ...


def free_ram_fraction(host: HostState) -> float:
    """Share of the host's RAM limit still free (0 for a host without RAM)."""
    limit = host.memory_mb_limit
    return host.free_ram_mb / limit if limit > 0 else 0.0
