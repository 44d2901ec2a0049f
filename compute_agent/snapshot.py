"""snapshot_instance as requested over RPC: start the snapshot of an instance into a queued image.

Like the other actions, it marks the row with the task state (image_snapshot,
by compare-and-swap, with a deadline) and hands over to sync(), which
captures and uploads the disk (sync._snapshot). Before that it records the
image on the host, so a retry or a restarted agent resumes the same
snapshot. A snapshot that cannot start here deletes its image and, when the
row is idle, sends the row up again so the index drops the task state the
API set.
"""

from __future__ import annotations

import logging

from cells import states
from cells.exception import InvalidState
from compute_agent import instances, snapshot_data
from compute_agent.env import HostEnv
from compute_agent.sync import Conflicted, sync
from compute_agent.sync import give_up as give_up_task

LOG = logging.getLogger(__name__)

_UNDER_WAY = (states.IMAGE_SNAPSHOT, states.IMAGE_UPLOADING)


def perform(env: HostEnv, uuid: str, image_id: str, disk_format: str) -> None:
    """Snapshot instance ``uuid`` into the queued image ``image_id`` as ``disk_format`` data. Idempotent."""
    job = snapshot_data.Job(image_id, disk_format)
    row = env.db.transaction(lambda session: instances.get(session, uuid))
    if row is None or row["deleted"] or row["host"] != env.host:
        LOG.warning("snapshot of instance %s: not an instance of this host; image %s dropped", uuid, image_id)
        snapshot_data.discard_image(env, image_id)
        return
    if row["task_state"] in _UNDER_WAY:
        if snapshot_data.load(env, uuid) == job:
            sync(env, uuid, row)  # this very snapshot, redelivered or retried: resume it
        else:
            LOG.warning("instance %s: another snapshot is under way; image %s dropped", uuid, image_id)
            snapshot_data.discard_image(env, image_id)
        return
    try:
        new_state = states.begin_action(states.State(row["vm_state"], row["task_state"]), "snapshot")
    except InvalidState as exc:
        LOG.info("instance %s: %s; image %s dropped", uuid, exc.message, image_id)
        snapshot_data.discard_image(env, image_id)
        if not states.is_transitional(states.State(row["vm_state"], row["task_state"])):
            # Bump the version so the index, which set image_snapshot, takes our idle state.
            resent = env.db.transaction(lambda session: instances.cas(session, row, {}))
            if resent is not None:
                env.send(resent)
        return  # else the pending task's end sends the state up
    snapshot_data.record(env, uuid, job)
    new = env.db.transaction(lambda session: instances.cas(
        session, row, {"task_state": new_state.task_state, "task_deadline": env.deadline()}))
    if new is None:
        raise Conflicted(f"instance {uuid} changed while starting its snapshot")
    sync(env, uuid, new)


def give_up(env: HostEnv, uuid: str, image_id: str, error: BaseException) -> None:
    """After retries ran out: delete the image, record the snapshot as failed."""
    snapshot_data.discard_image(env, image_id)
    recorded = snapshot_data.load(env, uuid)
    if recorded is not None and recorded.image_id == image_id:
        snapshot_data.forget(env, uuid)
    give_up_task(env, uuid, error)
