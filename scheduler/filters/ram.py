"""Keep hosts with enough RAM: memory_mb * ram_allocation_ratio - memory_mb_used."""

from __future__ import annotations

from scheduler.filters.base import RequestSpec
from scheduler.host_state import HostState


class RamFilter:
    name = "ram"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        """True if the request's RAM fits under the host's RAM limit."""
        return host.memory_mb_used + spec.usage.memory_mb <= host.memory_mb_limit
