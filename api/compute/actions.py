"""Actions and deletes: check the state table, move the index's task state, route to the cell.

Each step is a compare-and-swap on the row as read; losing a race means
reading again and deciding again, a bounded number of times. An instance no
cell holds yet (still being scheduled at the top) is deleted in the index
itself: the cell scheduler's own CAS then finds it gone and drops the build.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.engine import RowMapping

from api.deps import Services
from api.store import servers as server_store
from cells import states
from cells.context import RequestContext
from cells.exception import Conflict, NotFound, ServiceUnavailable

LOG = logging.getLogger(__name__)

ATTEMPTS = 3

# state-table action -> (action the cell performs, its arguments)
_CELL_ACTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "stop": ("stop", {}),
    "start": ("start", {}),
    "reboot": ("reboot", {"hard": False}),
    "reboot_hard": ("reboot", {"hard": True}),
    "delete": ("delete", {}),
    "snapshot": ("snapshot", {}),  # with image_id and disk_format from the caller
}


def load(services: Services, ctxt: RequestContext, uuid: str) -> RowMapping:
    """Return the live index row the caller may see; raises NotFound otherwise."""
    row = server_store.get(services.db, uuid) if len(uuid) <= 36 else None
    if row is None or row["deleted"] or not (
            ctxt.is_admin or (ctxt.project_id is not None and row["project_id"] == ctxt.project_id)):
        raise NotFound(f"Instance {uuid[:64]} could not be found.")
    return row


def perform(services: Services, ctxt: RequestContext, uuid: str, action: str, **kwargs: Any) -> None:
    """Start ``action`` (a key of cells.states.ACTIONS) on the instance; ``kwargs`` travel with it.

    Raises NotFound, InvalidState/Conflict (409) when the state forbids it or
    keeps changing under us, ServiceUnavailable if the cell cannot be told.
    """
    for _ in range(ATTEMPTS):
        row = load(services, ctxt, uuid)
        if action == "delete" and row["cell_path"] is None:
            if server_store.delete_unscheduled(services.db, uuid):
                return
            continue  # placed meanwhile: go through its cell
        target = states.begin_action(states.State(row["vm_state"], row["task_state"]), action)
        if row["cell_path"] is None:
            raise Conflict(f"Cannot '{action.replace('_hard', '')}' instance {uuid} while it is "
                           "not placed in a cell yet.")
        if not server_store.set_task_state(services.db, row, target.task_state):
            continue
        _route(services, ctxt, row, action, target.task_state, kwargs)
        return
    raise Conflict(f"Instance {uuid} is being changed by another request; please retry.")


def _route(services: Services, ctxt: RequestContext, row: RowMapping, action: str,
           task_state: str | None, extra: dict[str, Any]) -> None:
    cell_action, kwargs = _CELL_ACTIONS[action]
    try:
        services.cells_api.instance_action(ctxt, row["cell_path"], row["uuid"], cell_action,
                                           **kwargs, **extra)
    except Exception as exc:  # noqa: BLE001 - any transport failure: the cell will never hear of it
        LOG.error("cannot route %s of %s to %s (%s)", cell_action, row["uuid"], row["cell_path"],
                  type(exc).__name__)
        # Put the task state back, unless something else moved the row meanwhile.
        server_store.set_task_state(services.db, {**row, "task_state": task_state}, row["task_state"])
        raise ServiceUnavailable(f"The cell of instance {row['uuid']} cannot be reached; "
                                 "please retry.") from exc
