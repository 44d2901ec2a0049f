"""Starting an image pre-staging run: check the image and the cell, record the run, route it down.

The image is looked up with the caller's own token (as a boot does) and must
be active with a SHA-512 and a size, which every host's copy is verified
against. The cell must be a compute cell that reports to this API cell. The
run is recorded ``queued`` and routed to that cell's scheduler; if the cell
cannot be told, the run ends in error at once and the caller gets a 503.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from api.deps import Services
from api.store import capacity
from api.store import prestages as store
from cells import prestages
from cells.context import RequestContext
from cells.db.types import utcnow
from cells.exception import BadRequest, NotFound, ServiceUnavailable
from scheduler import rpcapi as scheduler_rpcapi

LOG = logging.getLogger(__name__)


def _image(services: Services, ctxt: RequestContext, token: str, image_id: str) -> dict[str, Any]:
    """The image's fields every copy is checked against; raises BadRequest if unfit."""
    try:
        document = services.image_lookup(image_id, ctxt.project_id, token)
    except NotFound:
        raise BadRequest(f"Image {image_id} could not be found.") from None
    if document.get("status") != "active":
        raise BadRequest(f"Image {image_id} is not active.")
    if document.get("os_hash_algo") != "sha512" or not document.get("os_hash_value") \
            or not isinstance(document.get("size"), int):
        raise BadRequest(f"Image {image_id} has no sha512 and size to verify the hosts' copies "
                         "against.")
    return {"id": image_id, "name": document.get("name"), "os_hash_algo": "sha512",
            "os_hash_value": document["os_hash_value"], "size": document["size"]}


def _check_cell(services: Services, cell: str) -> None:
    known = [row["cell_path"] for row in capacity.all_reports(services.db)]
    if cell not in known:
        hint = f" (known: {', '.join(known)})" if known and len(known) <= 20 else ""
        raise BadRequest(f"Cell {cell} is not a compute cell of this cloud; give its path, e.g. "
                         f"{known[0] if known else 'top!cell1'}{hint}.")


def start(services: Services, ctxt: RequestContext, token: str, image_id: str, cell: str,
          settings: dict[str, int] | None = None) -> str:
    """Record and route a run of ``image_id`` to every host of ``cell``; returns its id.

    ``settings`` (endpoint_copies, peer_copies; validated by the caller) override the
    cell's configuration for this run.

    Raises BadRequest (unknown or unfit image, unknown cell) or
    ServiceUnavailable (the image service or the cell cannot be reached).
    """
    _check_cell(services, cell)
    image = _image(services, ctxt, token, image_id)
    now = utcnow().replace(microsecond=0)
    prestage_id = str(uuid.uuid4())
    store.insert(services.db, {
        "id": prestage_id, "image_id": image_id, "image_name": image["name"], "cell_path": cell,
        "status": prestages.QUEUED, "hosts_total": 0, "hosts_done": 0, "hosts_failed": 0,
        "hosts_cached": 0, "from_endpoint": 0, "from_peers": 0, "depth": 0, "failures": {},
        "endpoint_copies": (settings or {}).get("endpoint_copies"),
        "peer_copies": (settings or {}).get("peer_copies"),
        "error": None, "version": 0, "user_id": ctxt.user_id, "project_id": ctxt.project_id,
        "created_at": now, "updated_at": now, "started_at": None, "finished_at": None})
    request: dict[str, Any] = {"id": prestage_id, "image": image}
    if settings:
        request["settings"] = dict(settings)
    try:
        services.cells_api.route(ctxt, cell, scheduler_rpcapi.TOPIC, "prestage_image",
                                 {"prestage": request}, version=scheduler_rpcapi.prestage_version(request))
    except Exception as exc:  # noqa: BLE001 - any transport failure: the cell will never hear of it
        LOG.error("cannot route pre-staging %s to %s (%s)", prestage_id, cell, type(exc).__name__)
        store.fail_unsent(services.db, prestage_id, "the cell could not be reached")
        raise ServiceUnavailable(f"Cell {cell} cannot be reached; please retry.") from exc
    LOG.info("pre-staging %s: image %s to the hosts of %s", prestage_id, image_id, cell)
    return prestage_id
