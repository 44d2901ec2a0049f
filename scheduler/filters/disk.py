"""Keep hosts with enough local disk: local_gb * disk_allocation_ratio - local_gb_used."""

from __future__ import annotations

from scheduler.filters.base import RequestSpec
from scheduler.host_state import HostState


class DiskFilter:
    name = "disk"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        """True if the request's disk fits under the host's disk limit."""
        return host.local_gb_used + spec.usage.disk_gb <= host.local_gb_limit
