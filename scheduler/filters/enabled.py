"""Drop hosts whose compute service an operator disabled."""

from __future__ import annotations

from scheduler.filters.base import RequestSpec
from scheduler.host_state import HostState


class EnabledFilter:
    name = "enabled"

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        """True unless the host's service is disabled (or has no service row)."""
        return not host.disabled
