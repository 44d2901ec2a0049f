"""Client side of cloud-compute (topic ``compute``, one server per host).

API versions:
  1.0 - build_and_run_instance, stop_instance, start_instance, reboot_instance,
        terminate_instance
  1.1 - snapshot_instance
  1.2 - prestage_image
"""

from __future__ import annotations

from typing import Any

from cells import rpc
from cells.context import RequestContext

TOPIC = "compute"
VERSION = "1.2"

# Where a host's pre-staged copy came from, as prestage_image answers.
PRESTAGE_CACHED, PRESTAGE_ENDPOINT, PRESTAGE_PEER = "cached", "endpoint", "peer"


class ComputeAPI:
    def __init__(self, broker_url: str) -> None:
        self.broker_url = broker_url
        self.client = rpc.get_client(broker_url, TOPIC, VERSION)

    def _to(self, host: str, version: str = "1.0") -> Any:
        # Each method asks for the version that brought it, so agents not yet upgraded still take it.
        return self.client.prepare(server=host, version=version)

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

    def snapshot_instance(self, ctxt: RequestContext, host: str, uuid: str, image_id: str,
                          disk_format: str) -> None:
        """Snapshot the instance's disk into the queued image ``image_id``, as ``disk_format`` data."""
        self.client.prepare(server=host, version="1.1").cast(
            ctxt, "snapshot_instance", uuid=uuid, image_id=image_id, disk_format=disk_format)

    def prestage_image(self, ctxt: RequestContext, host: str, image: dict[str, Any],
                       source: dict[str, Any] | None, timeout: float) -> dict[str, Any]:
        """Call: copy ``image`` ({id, os_hash_algo, os_hash_value, size}) into ``host``'s cache.

        ``source`` is None (the cell's image endpoint) or ``{"host", "url"}`` of a peer.
        Returns the agent's answer (compute_agent.prestage.run); raises
        cells.rpc.MessagingTimeout after ``timeout`` seconds without one.
        """
        result: dict[str, Any] = self._to(host, "1.2").prepare(timeout=timeout).call(
            ctxt, "prestage_image", image=image, source=source)
        return result
