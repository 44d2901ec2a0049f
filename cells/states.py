"""Instance state machine as tables: which actions a state allows and where events lead.

Pure data and lookups. The API checks ``begin_action`` before accepting a
request; agents and schedulers move instances with ``apply_event``. An
illegal transition raises InvalidState; tests iterate the tables.
"""

from __future__ import annotations

from typing import NamedTuple

from cells.exception import InvalidState

# vm_state: what the instance is.
BUILDING = "building"
ACTIVE = "active"
STOPPED = "stopped"
ERROR = "error"
DELETED = "deleted"
VM_STATES = (BUILDING, ACTIVE, STOPPED, ERROR, DELETED)

# task_state: what is being done to it (None when idle).
SCHEDULING = "scheduling"
SPAWNING = "spawning"
POWERING_OFF = "powering-off"
POWERING_ON = "powering-on"
REBOOTING = "rebooting"
REBOOTING_HARD = "rebooting_hard"
DELETING = "deleting"
# A snapshot (Nova's names): the disk is captured, then its image uploaded.
IMAGE_SNAPSHOT = "image_snapshot"
IMAGE_UPLOADING = "image_uploading"
TASK_STATES = (None, SCHEDULING, SPAWNING, POWERING_OFF, POWERING_ON, REBOOTING, REBOOTING_HARD,
               DELETING, IMAGE_SNAPSHOT, IMAGE_UPLOADING)

# power_state as libvirt reports it, in Nova's numbering.
NOSTATE, RUNNING, PAUSED, SHUTDOWN, CRASHED, SUSPENDED = 0, 1, 3, 4, 6, 7


class State(NamedTuple):
    vm_state: str
    task_state: str | None


# action -> (vm_states allowed, task_states allowed, task_state it sets)
ACTIONS: dict[str, tuple[frozenset[str], frozenset[str | None], str]] = {
    "start": (frozenset({STOPPED}), frozenset({None}), POWERING_ON),
    "stop": (frozenset({ACTIVE, ERROR}), frozenset({None}), POWERING_OFF),
    "reboot": (frozenset({ACTIVE}), frozenset({None}), REBOOTING),
    "reboot_hard": (frozenset({ACTIVE, STOPPED, ERROR}),
                    frozenset({None, REBOOTING, REBOOTING_HARD}), REBOOTING_HARD),
    "delete": (frozenset({BUILDING, ACTIVE, STOPPED, ERROR}),
               frozenset(TASK_STATES) - {DELETING}, DELETING),
    # Nova also snapshots paused and suspended guests; those vm_states do not exist here.
    "snapshot": (frozenset({ACTIVE, STOPPED}), frozenset({None}), IMAGE_SNAPSHOT),
}

# Names of actions in refusals, as the Compute API calls them (Nova's wording).
_ACTION_NAMES = {"reboot_hard": "reboot", "snapshot": "createImage"}

_ANY_TASK = "*"

# (vm_state, task_state or '*') + event -> next State. '*' task matches any.
EVENTS: dict[tuple[str, str | None, str], State] = {
    (BUILDING, SCHEDULING, "scheduled"): State(BUILDING, SPAWNING),
    (BUILDING, SPAWNING, "spawned"): State(ACTIVE, None),
    (BUILDING, _ANY_TASK, "failed"): State(ERROR, None),
    (ACTIVE, POWERING_OFF, "stopped"): State(STOPPED, None),
    (ERROR, POWERING_OFF, "stopped"): State(STOPPED, None),
    (STOPPED, POWERING_ON, "started"): State(ACTIVE, None),
    (ACTIVE, REBOOTING, "rebooted"): State(ACTIVE, None),
    (ACTIVE, REBOOTING_HARD, "rebooted"): State(ACTIVE, None),
    (STOPPED, REBOOTING_HARD, "rebooted"): State(ACTIVE, None),
    (ERROR, REBOOTING_HARD, "rebooted"): State(ACTIVE, None),
    (ACTIVE, _ANY_TASK, "failed"): State(ACTIVE, None),
    (STOPPED, _ANY_TASK, "failed"): State(STOPPED, None),
    (ERROR, _ANY_TASK, "failed"): State(ERROR, None),
    (BUILDING, DELETING, "deleted"): State(DELETED, None),
    (ACTIVE, DELETING, "deleted"): State(DELETED, None),
    (STOPPED, DELETING, "deleted"): State(DELETED, None),
    (ERROR, DELETING, "deleted"): State(DELETED, None),
    (BUILDING, DELETING, "failed"): State(ERROR, None),
    (ACTIVE, DELETING, "failed"): State(ERROR, None),
    (STOPPED, DELETING, "failed"): State(ERROR, None),
    (ERROR, DELETING, "failed"): State(ERROR, None),
    (ACTIVE, IMAGE_SNAPSHOT, "uploading"): State(ACTIVE, IMAGE_UPLOADING),
    (STOPPED, IMAGE_SNAPSHOT, "uploading"): State(STOPPED, IMAGE_UPLOADING),
    (ACTIVE, IMAGE_UPLOADING, "snapshotted"): State(ACTIVE, None),
    (STOPPED, IMAGE_UPLOADING, "snapshotted"): State(STOPPED, None),
}

# Events that move a task on to its next step rather than ending it.
STEP_EVENTS = frozenset({"scheduled", "uploading"})

# Transitional task states have a deadline after which they resolve to this event.
TIMEOUT_EVENT: dict[str | None, str] = {
    SCHEDULING: "failed",
    SPAWNING: "failed",
    POWERING_OFF: "failed",
    POWERING_ON: "failed",
    REBOOTING: "failed",
    REBOOTING_HARD: "failed",
    DELETING: "failed",
    IMAGE_SNAPSHOT: "failed",
    IMAGE_UPLOADING: "failed",
}


def begin_action(state: State, action: str) -> State:
    """Return the state an accepted action moves to; raises InvalidState if not allowed."""
    vm_states, task_states, new_task = ACTIONS[action]
    if state.vm_state not in vm_states or state.task_state not in task_states:
        doing = f" while {state.task_state}" if state.task_state else ""
        raise InvalidState(
            f"Cannot '{_ACTION_NAMES.get(action, action)}' instance while it is in vm_state "
            f"{state.vm_state}{doing}"
        )
    return State(state.vm_state, new_task)


def apply_event(state: State, event: str) -> State:
    """Return the state after ``event``; raises InvalidState if the event does not apply."""
    for key in ((state.vm_state, state.task_state, event), (state.vm_state, _ANY_TASK, event)):
        if key in EVENTS:
            return EVENTS[key]
    raise InvalidState(f"event {event!r} does not apply to {state.vm_state}/{state.task_state}")


def is_transitional(state: State) -> bool:
    return state.task_state is not None or state.vm_state == BUILDING


# API status as in Compute v2.1 (Nova's mapping), by vm_state then task_state.
_STATUS: dict[str, dict[str | None, str]] = {
    BUILDING: {None: "BUILD"},
    ACTIVE: {None: "ACTIVE", REBOOTING: "REBOOT", REBOOTING_HARD: "HARD_REBOOT"},
    STOPPED: {None: "SHUTOFF", REBOOTING_HARD: "HARD_REBOOT"},
    ERROR: {None: "ERROR", REBOOTING_HARD: "HARD_REBOOT"},
    DELETED: {None: "DELETED"},
}


def api_status(vm_state: str, task_state: str | None) -> str:
    """Return the Compute API ``status`` of an instance."""
    by_task = _STATUS.get(vm_state, {None: "UNKNOWN"})
    return by_task.get(task_state, by_task[None])


STATUS_TO_VM_STATES: dict[str, list[str]] = {
    "BUILD": [BUILDING],
    "ACTIVE": [ACTIVE],
    "REBOOT": [ACTIVE],
    "HARD_REBOOT": [ACTIVE, STOPPED, ERROR],
    "SHUTOFF": [STOPPED],
    "ERROR": [ERROR],
    "DELETED": [DELETED],
}
