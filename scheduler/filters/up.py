"""Drop hosts whose compute service has not heartbeated within ``service_down_time``."""

from __future__ import annotations

import datetime as dt

from scheduler.filters.base import RequestSpec
from scheduler.host_state import HostState


class UpFilter:
    name = "up"

    def __init__(self, service_down_time: float) -> None:
        self.down_after = dt.timedelta(seconds=service_down_time)

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        """True if the host's last heartbeat is recent enough."""
        return host.last_seen_at is not None and spec.now - host.last_seen_at <= self.down_after
