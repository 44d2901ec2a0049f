"""Nothing stays in a transitional state forever: resolve tasks whose deadline passed.

Runs outside the per-instance work queue, so a hypervisor call that hangs
cannot hold its instance hostage: the row is resolved by compare-and-swap and
the hung operation, when it returns, finds the version moved and re-syncs.
"""

from __future__ import annotations

import logging
from typing import Any

from cells import states
from cells.exception import InvalidState
from compute_agent import instances, snapshot_data
from compute_agent.env import HostEnv
from compute_agent.sync import sync

LOG = logging.getLogger(__name__)


def resolve(env: HostEnv, row: dict[str, Any]) -> dict[str, Any] | None:
    """Resolve one row past its deadline per cells.states.TIMEOUT_EVENT; returns the new row.

    A build that timed out leaves the host (claim released) like a failed
    build. The new state is sent up and a sync queued to tidy the guest.
    """
    task = row["task_state"]
    state = states.State(row["vm_state"], task)
    try:
        final = states.apply_event(state, states.TIMEOUT_EVENT.get(task, "failed"))
    except InvalidState:
        final = states.State(states.ERROR, None)
    doing = task or row["vm_state"]
    fault = instances.make_fault(
        f"{doing} did not finish before its deadline ({row['task_deadline']:%Y-%m-%dT%H:%M:%S}Z) "
        f"on host {env.host}")
    values: dict[str, Any] = {"vm_state": final.vm_state, "task_state": final.task_state,
                              "task_deadline": None, "fault": fault}
    if row["vm_state"] == states.BUILDING:
        values.update(host=None, power_state=states.NOSTATE)
        new = env.db.transaction(lambda session: instances.leave_host(session, row, values))
    else:
        new = env.db.transaction(lambda session: instances.cas(session, row, values))
    if new is None:
        return None  # it moved on by itself meanwhile
    LOG.warning("instance %s: %s timed out, now %s", row["uuid"], doing, final.vm_state)
    env.send(new)
    if task in (states.IMAGE_SNAPSHOT, states.IMAGE_UPLOADING):
        # The snapshot failed: its queued image goes, as after any failed snapshot. A hung
        # copy or upload that ends later finds the image gone and the row moved on.
        env.queue.submit(row["uuid"], lambda: _drop_snapshot(env, row["uuid"]), "drop timed-out snapshot")
    env.queue.submit(row["uuid"], lambda: sync(env, row["uuid"]), "sync after deadline")
    return new


def _drop_snapshot(env: HostEnv, uuid: str) -> None:
    job = snapshot_data.load(env, uuid)
    if job is not None:
        snapshot_data.discard(env, uuid, job)
