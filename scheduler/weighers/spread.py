"""Spread: the emptiest host first, so load is even and a host failure hurts few."""

from __future__ import annotations

from scheduler.host_state import HostState
from scheduler.weighers.base import free_ram_fraction


class SpreadWeigher:
    name = "spread"

    def key(self, host: HostState) -> tuple[float, ...]:
        """Most free RAM (as a fraction, fair to big and small hosts), then fewest vCPUs used."""
        return (free_ram_fraction(host), -host.vcpus_used)
