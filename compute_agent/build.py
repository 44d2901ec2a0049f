"""build_and_run_instance: from a claimed instance row to a running guest.

The normal path costs two SQL statements (the compare-and-swap to active and
its COMMIT): the message carries the row and the image metadata, the image
comes from the host's cache (fetched once), the disk is a copy-on-write
overlay. A failure removes what was made, releases the claim and records the
instance as error (off the host) with a fault.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from cells import image_properties, states
from cells.db.types import utcnow
from compute_agent import guests, instances
from compute_agent.env import HostEnv
from compute_agent.errors import ImageInvalid, is_transient
from compute_agent.sync import sync
from compute_agent.virt.driver import GuestSpec

LOG = logging.getLogger(__name__)

_FORMATS = {"qcow2": "qcow2", "raw": "raw", "ami": "raw"}


def normalize(instance: Mapping[str, Any]) -> dict[str, Any]:
    """Return the instance dict with its sizes as columns, taken from the flavor if absent."""
    row = dict(instance)
    flavor = row.get("flavor") or {}
    row.setdefault("vcpus", flavor.get("vcpus", 1))
    row.setdefault("memory_mb", flavor.get("ram", 512))
    row.setdefault("root_gb", flavor.get("disk", 0))
    row.setdefault("deleted", False)
    return row


def _property(image: Mapping[str, Any], name: str) -> Any:
    # Image v2 puts extra properties at the top level; the build request nests them.
    return (image.get("properties") or {}).get(name) or image.get(name)


def prepare(env: HostEnv, row: dict[str, Any], image: Mapping[str, Any]) -> GuestSpec:
    """Fetch the image (and kernel/ramdisk) into the host's cache and save the guest's spec."""
    disk_format = _FORMATS.get(str(image.get("disk_format") or "qcow2"))
    if disk_format is None:
        raise ImageInvalid(f"image {image.get('id')}: disk format {image.get('disk_format')!r} "
                           "cannot boot a guest (use qcow2 or raw)")
    image_path = env.images.fetch(image)
    kernel_id, ramdisk_id = _property(image, "kernel_id"), _property(image, "ramdisk_id")
    kernel = env.images.fetch({"id": kernel_id}) if kernel_id else None
    initrd = env.images.fetch({"id": ramdisk_id}) if ramdisk_id else None
    uuid = row["uuid"]
    os.makedirs(env.paths.instance_dir(uuid), mode=0o755, exist_ok=True)
    spec = GuestSpec(uuid=uuid, vcpus=int(row["vcpus"]), memory_mb=int(row["memory_mb"]),
                     disk_gb=int(row["root_gb"]), image_path=image_path, image_format=disk_format,
                     console_log=env.paths.console_log(uuid), kernel=kernel, initrd=initrd,
                     cmdline=_property(image, "os_command_line") if kernel else None,
                     properties=image_properties.hypervisor_properties(
                         {**image, **(image.get("properties") or {})}))
    guests.save_spec(env, spec)
    return spec


def run(env: HostEnv, instance: Mapping[str, Any], image: Mapping[str, Any]) -> None:
    """Build and start the guest, then set the row active and send it up.

    Transient failures propagate for the work queue to retry; others fail the
    build at once.
    """
    row = normalize(instance)
    uuid = row["uuid"]
    if row.get("host") != env.host:
        LOG.warning("instance %s is for host %s, not %s: ignored", uuid, row.get("host"), env.host)
        return
    try:
        env.capacity.reserve(uuid, instances.resources_of(row))
        spec = prepare(env, row, image)
        env.driver.spawn(spec)
    except Exception as exc:
        if is_transient(exc):
            raise
        fail(env, row, exc)
        return
    now = utcnow()
    values = {"vm_state": states.ACTIVE, "task_state": None, "power_state": states.RUNNING,
              "launched_at": now, "task_deadline": None}
    new = env.db.transaction(lambda session: instances.cas(session, row, values))
    if new is None:
        # Deleted, timed out or built already: the row decides what stays.
        LOG.info("instance %s changed while it was built; syncing", uuid)
        sync(env, uuid)
        return
    env.send(new)


def fail(env: HostEnv, instance: Mapping[str, Any], error: BaseException) -> None:
    """Record a failed build: error with a fault, off the host, claim released; remove the guest."""
    row = normalize(instance)
    uuid = row["uuid"]
    LOG.warning("instance %s: build failed: %s", uuid, error)
    values = {"vm_state": states.ERROR, "task_state": None, "task_deadline": None, "host": None,
              "power_state": states.NOSTATE, "fault": instances.make_fault(error)}
    new = env.db.transaction(lambda session: instances.leave_host(session, row, values))
    if new is None:
        sync(env, uuid)
        return
    guests.teardown(env, uuid)
    env.send(new)
