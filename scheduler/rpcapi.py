"""Client side of cloud-scheduler (topic ``scheduler`` on the cell's own broker).

API versions:
  1.0 - schedule_instances (API cell: choose a compute cell),
        build_instances (compute cell: choose and claim a host)
  1.1 - prestage_image (compute cell: push an image to every host's cache)
  1.2 - prestage_image takes prestage['settings'] (per-run endpoint_copies, peer_copies)
"""

from __future__ import annotations

from typing import Any

from cells import rpc
from cells.context import RequestContext

TOPIC = "scheduler"
VERSION = "1.2"

# What one pre-staging run may set for itself, with its bounds (inclusive): copies the cell's
# image endpoint serves at once, and copies each host holding the image serves (0: no tree).
PRESTAGE_OVERRIDES: dict[str, tuple[int, int]] = {"endpoint_copies": (1, 16), "peer_copies": (0, 16)}


def prestage_version(prestage: dict[str, Any]) -> str:
    """The version a ``prestage_image`` request needs: 1.2 only with settings, so a scheduler
    still at 1.1 takes the others, and refuses rather than ignores settings it does not know."""
    return "1.2" if prestage.get("settings") else "1.1"


class SchedulerAPI:
    """Each method asks for the version that brought it, so schedulers not yet upgraded take it."""

    def __init__(self, broker_url: str, retry: int | None = None) -> None:
        self.client = rpc.get_client(broker_url, TOPIC, VERSION, retry=retry)

    def schedule_instances(self, ctxt: RequestContext, requests: list[dict[str, Any]]) -> None:
        """API cell: place each build request in a compute cell and route it there."""
        self.client.prepare(version="1.0").cast(ctxt, "schedule_instances", requests=requests)

    def build_instances(self, ctxt: RequestContext, requests: list[dict[str, Any]]) -> None:
        """Compute cell: claim a host for each build request and hand it to its agent."""
        self.client.prepare(version="1.0").cast(ctxt, "build_instances", requests=requests)

    def prestage_image(self, ctxt: RequestContext, prestage: dict[str, Any]) -> None:
        """Compute cell: push ``prestage['image']`` to every host, reporting to the API cell.

        ``prestage`` is ``{"id", "image": {id, name, os_hash_algo, os_hash_value, size}}``,
        plus ``"settings": {endpoint_copies, peer_copies}`` (either optional) to override the
        cell's configuration for this run; the API cell sends it routed (``cells.route`` to
        topic ``scheduler``, at ``prestage_version(prestage)``).
        """
        self.client.prepare(version=prestage_version(prestage)).cast(ctxt, "prestage_image",
                                                                     prestage=prestage)
