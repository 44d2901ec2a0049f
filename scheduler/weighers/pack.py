"""Pack: the fullest host that still fits first, so whole hosts stay free for big flavors."""

from __future__ import annotations

from scheduler.host_state import HostState


class PackWeigher:
    name = "pack"

    def key(self, host: HostState) -> tuple[float, ...]:
        """Least free RAM (best fit, in MB), then most vCPUs used."""
        return (-host.free_ram_mb, host.vcpus_used)
