"""Client side of cloud-scheduler (topic ``scheduler`` on the cell's own broker).

API versions:
  1.0 - schedule_instances (API cell: choose a compute cell),
        build_instances (compute cell: choose and claim a host)
"""

from __future__ import annotations

from typing import Any

from cells import rpc
from cells.context import RequestContext

TOPIC = "scheduler"
VERSION = "1.0"


class SchedulerAPI:
    def __init__(self, broker_url: str, retry: int | None = None) -> None:
        self.client = rpc.get_client(broker_url, TOPIC, VERSION, retry=retry)

    def schedule_instances(self, ctxt: RequestContext, requests: list[dict[str, Any]]) -> None:
        """API cell: place each build request in a compute cell and route it there."""
        self.client.cast(ctxt, "schedule_instances", requests=requests)

    def build_instances(self, ctxt: RequestContext, requests: list[dict[str, Any]]) -> None:
        """Compute cell: claim a host for each build request and hand it to its agent."""
        self.client.cast(ctxt, "build_instances", requests=requests)
