"""stop, start, reboot and terminate as requested over RPC.

Each marks the row with the action's task state (compare-and-swap, with a
deadline) and hands over to sync(), which does the hypervisor work and
records the final state. Repeated or late messages converge: an action
already under way is resumed, one the row no longer allows is answered by
sending the row's current state up, so the index drops the task it set.
"""

from __future__ import annotations

import logging
from typing import Any

from cells import states
from cells.exception import InvalidState
from compute_agent import guests, instances
from compute_agent.env import HostEnv
from compute_agent.sync import Conflicted, sync

LOG = logging.getLogger(__name__)

_SYNC, _RESEND = "sync", "resend"


def action_for(method: str, hard: bool = False) -> str:
    """Return the cells.states action of an RPC method."""
    return {"stop": "stop", "start": "start", "terminate": "delete",
            "reboot": "reboot_hard" if hard else "reboot"}[method]


def _begin(env: HostEnv, action: str) -> Any:
    def begin(session: Any, uuid: str) -> tuple[str, dict[str, Any] | None]:
        row = instances.get(session, uuid)
        if row is None or row["deleted"] or row["host"] != env.host:
            return _SYNC, row
        state = states.State(row["vm_state"], row["task_state"])
        if row["task_state"] == states.ACTIONS[action][2]:
            return _SYNC, row  # already under way (a retry or a redelivered message)
        try:
            new_state = states.begin_action(state, action)
        except InvalidState as exc:
            if states.is_transitional(state):
                return _SYNC, row  # another task is pending: finish it, that sends the state up
            LOG.info("instance %s: %s", uuid, exc.message)
            # Bump the version so the index, which set its own task state, takes ours.
            return _RESEND, instances.cas(session, row, {})
        new = instances.cas(session, row, {"task_state": new_state.task_state,
                                           "task_deadline": env.deadline()})
        if new is None:
            raise Conflicted(f"instance {uuid} changed while starting {action}")
        return _SYNC, new

    return begin


def perform(env: HostEnv, uuid: str, action: str) -> None:
    """Carry out ``action`` (a cells.states action) on instance ``uuid``. Idempotent."""
    begin = _begin(env, action)
    outcome, row = env.db.transaction(lambda session: begin(session, uuid))
    if outcome == _RESEND:
        if row is not None:
            env.send(row)
        return
    if row is None or row["deleted"] or row["host"] != env.host:
        if row is not None and row["deleted"] and action == "delete":
            env.send(row)  # a repeated delete: the index may have missed the first answer
        guests.teardown(env, uuid)  # nothing of it may stay here
        return
    sync(env, uuid, row)
