"""Plan how to bring this host's guests in line with its instance rows. Pure: no I/O.

The desired state is the host's non-deleted instance rows; the actual state
is the hypervisor's domains with their power states. ``plan`` returns one
step per instance that needs a look; the agent applies each through its
idempotent ``sync(instance)``, which re-reads the row before acting, so a
plan made from a slightly stale view is safe. Without a view of the
hypervisor (listing failed) nothing is planned: an incomplete view must never
destroy anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cells import states

# Step kinds.
RESUME_TASK = "resume-task"        # a task left by an earlier run of this agent: drive it to its end
RESPAWN = "respawn"                # the row wants a guest the hypervisor lacks: recreate it
POWER_OFF = "power-off"            # stopped row, running guest
MARK_STOPPED = "mark-stopped"      # active row, the guest stopped or crashed on its own
UPDATE_POWER = "update-power"      # states agree but the recorded power state is stale
DESTROY_ORPHAN = "destroy-orphan"  # a guest with no live row on this host

# Tasks only the build message can carry out; their deadline resolves them otherwise.
_BUILD_TASKS = frozenset({states.SCHEDULING, states.SPAWNING})
_STOPPED_POWER = frozenset({states.SHUTDOWN, states.CRASHED})


@dataclass(frozen=True)
class Desired:
    """What one instance row of this host says."""

    uuid: str
    vm_state: str
    task_state: str | None
    power_state: int


@dataclass(frozen=True)
class Step:
    uuid: str
    kind: str
    reason: str


def _for_row(row: Desired, actual: int | None, startup: bool) -> Step | None:
    if states.is_transitional(states.State(row.vm_state, row.task_state)):
        if startup and row.task_state is not None and row.task_state not in _BUILD_TASKS:
            return Step(row.uuid, RESUME_TASK, f"{row.task_state} left unfinished")
        return None
    if row.vm_state == states.ACTIVE:
        if actual is None:
            return Step(row.uuid, RESPAWN, "active instance has no domain")
        if actual in _STOPPED_POWER:
            return Step(row.uuid, MARK_STOPPED, f"guest is off (power state {actual})")
    elif row.vm_state == states.STOPPED:
        if actual is None:
            return Step(row.uuid, RESPAWN, "stopped instance has no domain")
        if actual not in _STOPPED_POWER and actual != states.NOSTATE:
            return Step(row.uuid, POWER_OFF, f"stopped instance is running (power state {actual})")
    else:
        # error (and anything unknown) is left for an operator or a delete to decide.
        return None
    if actual is not None and actual != row.power_state:
        return Step(row.uuid, UPDATE_POWER, f"power state {row.power_state} -> {actual}")
    return None


def plan(rows: Iterable[Desired], domains: Mapping[str, int] | None,
         startup: bool = False) -> list[Step]:
    """Return the steps that bring ``domains`` ({uuid: power_state}) in line with ``rows``.

    ``domains`` is None when the hypervisor could not be listed: then nothing
    is planned. ``startup`` also resumes tasks an earlier run left unfinished.
    Deleted rows count as absent.
    """
    if domains is None:
        return []
    steps: list[Step] = []
    live: set[str] = set()
    for row in rows:
        if row.vm_state == states.DELETED:
            continue
        live.add(row.uuid)
        step = _for_row(row, domains.get(row.uuid), startup)
        if step is not None:
            steps.append(step)
    for uuid in sorted(set(domains) - live):
        steps.append(Step(uuid, DESTROY_ORPHAN, "no live instance row on this host"))
    return steps
