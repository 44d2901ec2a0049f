"""Client side of cloud-compute (topic ``compute``, one server per host).

API versions:
  1.0 - build_and_run_instance, stop_instance, start_instance, reboot_instance,
        terminate_instance
"""

from __future__ import annotations

from typing import Any

from cells import rpc
from cells.context import RequestContext

TOPIC = "compute"
VERSION = "1.0"


class ComputeAPI:
    def __init__(self, broker_url: str) -> None:
        self.broker_url = broker_url
        self.client = rpc.get_client(broker_url, TOPIC, VERSION)

    def _to(self, host: str) -> Any:
        return self.client.prepare(server=host)

    def build_and_run_instance(self, ctxt: RequestContext, host: str, instance: dict[str, Any],
                               image: dict[str, Any]) -> None:
        """Build and start ``instance`` (a cell instance row as a dict) from ``image`` metadata."""
        self._to(host).cast(ctxt, "build_and_run_instance", instance=instance, image=image)

    def stop_instance(self, ctxt: RequestContext, host: str, uuid: str) -> None:
        self._to(host).cast(ctxt, "stop_instance", uuid=uuid)

    def start_instance(self, ctxt: RequestContext, host: str, uuid: str) -> None:
        self._to(host).cast(ctxt, "start_instance", uuid=uuid)

    def reboot_instance(self, ctxt: RequestContext, host: str, uuid: str, hard: bool) -> None:
        self._to(host).cast(ctxt, "reboot_instance", uuid=uuid, hard=hard)

    def terminate_instance(self, ctxt: RequestContext, host: str, uuid: str) -> None:
        self._to(host).cast(ctxt, "terminate_instance", uuid=uuid)
