"""sync(instance): the one idempotent path that brings a guest in line with its row.

RPC actions set a task state and call it; the periodic resync, start-up and
lifecycle events call it with just a uuid. It re-reads the row, then:
carries out a pending task (stop, start, reboot, delete, snapshot) and
records the final state by compare-and-swap; or, when idle, converges the guest to the
row (recreate a lost domain, power off a guest that should be stopped,
record a guest that stopped on its own); or removes every local trace of an
instance that is no longer this host's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from cells import states
from cells.db.types import utcnow
from compute_agent import guests, instances, reconcile, snapshot_data
from compute_agent.env import HostEnv
from compute_agent.errors import TransientError, is_transient
from compute_agent.image_upload import ImageGone
from compute_agent.virt.driver import HypervisorError, InstanceNotFound

LOG = logging.getLogger(__name__)


class Conflicted(TransientError):
    """The row moved while we worked; the retry re-reads it."""


def _state(row: dict[str, Any]) -> states.State:
    return states.State(row["vm_state"], row["task_state"])


def _power(env: HostEnv, uuid: str) -> int:
    try:
        return env.driver.power_state(uuid)
    except InstanceNotFound:
        return states.NOSTATE


def _write(env: HostEnv, row: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    new = env.db.transaction(lambda session: instances.cas(session, row, values))
    if new is None:
        raise Conflicted(f"instance {row['uuid']} changed while it was being worked on")
    env.send(new)
    return new


def finish(env: HostEnv, row: dict[str, Any], event: str, **values: Any) -> dict[str, Any]:
    """Record the end of the row's task (``event`` per cells.states.EVENTS); sends it up."""
    new_state = states.apply_event(_state(row), event)
    return _write(env, row, {"vm_state": new_state.vm_state, "task_state": new_state.task_state,
                             "task_deadline": None, **values})


def fail_task(env: HostEnv, row: dict[str, Any], error: BaseException) -> dict[str, Any]:
    """Resolve the row's task as failed, with a fault; sends it up."""
    LOG.warning("instance %s: %s failed: %s", row["uuid"], row["task_state"], error)
    return finish(env, row, "failed", fault=instances.make_fault(error),
                  power_state=_power(env, row["uuid"]))


# --- tasks ---------------------------------------------------------------------

def _require_guest(env: HostEnv, uuid: str, start: bool) -> None:
    if not guests.ensure_guest(env, uuid, start):
        raise HypervisorError(f"instance {uuid} has no domain on this host and cannot be recreated")


def _stop(env: HostEnv, row: dict[str, Any]) -> None:
    _require_guest(env, row["uuid"], start=False)
    guests.power_off(env, row["uuid"])
    finish(env, row, "stopped", power_state=_power(env, row["uuid"]))


def _start(env: HostEnv, row: dict[str, Any]) -> None:
    _require_guest(env, row["uuid"], start=True)
    finish(env, row, "started", power_state=_power(env, row["uuid"]))


def _reboot(env: HostEnv, row: dict[str, Any]) -> None:
    _require_guest(env, row["uuid"], start=False)
    hard = row["task_state"] == states.REBOOTING_HARD
    if hard:
        env.expect_stop(row["uuid"])
    env.driver.reboot(row["uuid"], hard)
    finish(env, row, "rebooted", power_state=_power(env, row["uuid"]))


def _delete(env: HostEnv, row: dict[str, Any]) -> None:
    guests.teardown(env, row["uuid"])
    new_state = states.apply_event(_state(row), "deleted")
    now = utcnow()
    values = {"vm_state": new_state.vm_state, "task_state": None, "task_deadline": None,
              "power_state": states.NOSTATE, "deleted": True, "deleted_at": now, "terminated_at": now}
    new = env.db.transaction(lambda session: instances.leave_host(session, row, values))
    if new is None:
        raise Conflicted(f"instance {row['uuid']} changed while it was being deleted")
    env.send(new)


def _snapshot(env: HostEnv, row: dict[str, Any]) -> None:
    """Capture the disk, upload it (task image_uploading), end idle; a failure deletes the image."""
    uuid = row["uuid"]
    job = snapshot_data.load(env, uuid)
    if job is None:
        raise HypervisorError("the snapshot was interrupted and cannot be resumed: this host kept no "
                              "record of its image")
    try:
        with snapshot_data.flat_image(env, uuid, job) as image:
            if row["task_state"] == states.IMAGE_SNAPSHOT:
                # A large upload gets a deadline of its own.
                uploading = states.apply_event(_state(row), "uploading")
                row = _write(env, row, {"task_state": uploading.task_state, "task_deadline": env.deadline()})
            snapshot_data.upload(env, job, image)
    except ImageGone as exc:
        LOG.warning("instance %s: %s", uuid, exc.message)  # as Nova: no fault, the owner did it
        snapshot_data.forget(env, uuid)
        finish(env, row, "failed", power_state=_power(env, uuid))
        return
    except Exception as exc:
        if is_transient(exc):
            raise
        snapshot_data.discard(env, uuid, job)
        fail_task(env, row, exc)
        return
    snapshot_data.forget(env, uuid)
    finish(env, row, "snapshotted", power_state=_power(env, uuid))


TASKS: dict[str | None, Callable[[HostEnv, dict[str, Any]], None]] = {
    states.POWERING_OFF: _stop,
    states.POWERING_ON: _start,
    states.REBOOTING: _reboot,
    states.REBOOTING_HARD: _reboot,
    states.DELETING: _delete,
    states.IMAGE_SNAPSHOT: _snapshot,
    states.IMAGE_UPLOADING: _snapshot,
}


# --- idle instances ------------------------------------------------------------

def _converge(env: HostEnv, row: dict[str, Any]) -> None:
    uuid = row["uuid"]
    try:
        actual: dict[str, int] = {uuid: env.driver.power_state(uuid)}
    except InstanceNotFound:
        actual = {}
    desired = reconcile.Desired(uuid, row["vm_state"], row["task_state"], row["power_state"])
    for step in reconcile.plan([desired], actual):
        LOG.info("instance %s: %s (%s)", uuid, step.kind, step.reason)
        if step.kind == reconcile.RESPAWN:
            if not guests.ensure_guest(env, uuid, start=row["vm_state"] == states.ACTIVE):
                _write(env, row, {"vm_state": states.ERROR, "power_state": states.NOSTATE,
                                  "fault": instances.make_fault("the guest was lost and cannot be "
                                                                "recreated on this host")})
                return
            _write(env, row, {"power_state": _power(env, uuid)})
        elif step.kind == reconcile.POWER_OFF:
            guests.power_off(env, uuid)
            _write(env, row, {"power_state": _power(env, uuid)})
        elif step.kind == reconcile.MARK_STOPPED:
            _write(env, row, {"vm_state": states.STOPPED, "power_state": actual[uuid]})
        elif step.kind == reconcile.UPDATE_POWER:
            _write(env, row, {"power_state": actual[uuid]})


def sync(env: HostEnv, uuid: str, row: dict[str, Any] | None = None) -> None:
    """Bring the guest ``uuid`` in line with its row (read unless given). Idempotent.

    Transient failures propagate (the work queue retries); a task that fails
    otherwise is recorded as failed with a fault.
    """
    if row is None:
        row = env.db.transaction(lambda session: instances.get(session, uuid))
    if row is None or row["deleted"] or row["host"] != env.host:
        guests.teardown(env, uuid)
        return
    task = TASKS.get(row["task_state"])
    if task is None:
        if not states.is_transitional(_state(row)):
            try:
                _converge(env, row)
            except Conflicted:
                LOG.info("instance %s moved while converging; the next resync looks again", uuid)
        return  # a build in progress is the build message's (or its deadline's) business
    try:
        task(env, row)
    except Exception as exc:
        if is_transient(exc):
            raise
        fail_task(env, row, exc)


def give_up(env: HostEnv, uuid: str, error: BaseException) -> None:
    """After retries ran out: record the pending task of ``uuid`` as failed."""
    row = env.db.transaction(lambda session: instances.get(session, uuid))
    if row and not row["deleted"] and row["host"] == env.host and row["task_state"] in TASKS:
        fail_task(env, row, error)
