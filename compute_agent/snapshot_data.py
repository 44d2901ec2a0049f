"""The data side of a snapshot: its record on the host, the flat image of the disk, upload, clean-up.

The record (``snapshot.json`` in the instance's directory: the image's id
and format) is what lets any later sync(), after a retry or a restart of
the agent, resume the snapshot the row's task state says is under way; the
row itself names no image. A snapshot that fails has its image deleted, so
no queued image is left behind for the owner to wonder about.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from cells.exception import CloudError
from compute_agent import guests, image_upload
from compute_agent.env import HostEnv
from compute_agent.paths import check_name
from compute_agent.virt.driver import DiskImage, HypervisorError

LOG = logging.getLogger(__name__)

_RECORD = "snapshot.json"


@dataclass(frozen=True)
class Job:
    """One snapshot: the queued image it fills, in which disk format."""

    image_id: str
    disk_format: str


def _record_path(env: HostEnv, uuid: str) -> str:
    return os.path.join(env.paths.instance_dir(uuid), _RECORD)


def record(env: HostEnv, uuid: str, job: Job) -> None:
    """Note on the host which snapshot of ``uuid`` is under way."""
    path = _record_path(env, uuid)
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(asdict(job), f)
    os.replace(tmp, path)


def load(env: HostEnv, uuid: str) -> Job | None:
    """Return the snapshot of ``uuid`` under way on this host, or None."""
    try:
        with open(_record_path(env, uuid)) as f:
            data = json.load(f)
        return Job(str(data["image_id"]), str(data["disk_format"]))
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None


def forget(env: HostEnv, uuid: str) -> None:
    """Drop the record of a snapshot that ended."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_record_path(env, uuid))


@contextlib.contextmanager
def flat_image(env: HostEnv, uuid: str, job: Job) -> Iterator[DiskImage]:
    """Yield a self-contained image of the guest's disk; a temporary copy is removed afterwards."""
    spec = guests.load_spec(env, uuid)
    if spec is None:
        raise HypervisorError(f"instance {uuid} has no guest on this host to snapshot")
    target = os.path.join(env.paths.snapshots, check_name("image id", job.image_id) + ".part")
    try:
        image = env.driver.snapshot_disk(spec, job.disk_format, target, env.conf.transition_timeout)
    except BaseException:
        # A copy may be complete when a later step fails (the guest would not resume): it goes,
        # or every failed snapshot would leave a disk-sized file behind.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target)
        raise
    try:
        yield image
    finally:
        if image.temporary:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(image.path)


def upload(env: HostEnv, job: Job, image: DiskImage) -> None:
    """Upload the flat image into the job's image (see image_upload.upload for what it raises)."""
    image_upload.upload(env.images.client, job.image_id, image.path)


def discard_image(env: HostEnv, image_id: str) -> None:
    """Delete the queued image of a snapshot that will not happen; a failure is logged, not raised."""
    try:
        image_upload.delete(env.images.client, image_id)
    except CloudError as exc:
        LOG.warning("cannot delete image %s of a failed snapshot (its owner may): %s", image_id,
                    exc.message)


def discard(env: HostEnv, uuid: str, job: Job) -> None:
    """Give a snapshot up: its image deleted, its record dropped."""
    discard_image(env, job.image_id)
    forget(env, uuid)
