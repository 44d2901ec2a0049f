"""Keep hosts with enough vCPUs: vcpus * cpu_allocation_ratio - vcpus_used."""

from __future__ import annotations

from scheduler.filters.base import RequestSpec
from scheduler.host_state import HostState


class VcpuFilter:
    name = "vcpu"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        """True if the request's vCPUs fit under the host's vCPU limit."""
        return host.vcpus_used + spec.usage.vcpus <= host.vcpus_limit
