"""createImage: a snapshot of a server's disk, uploaded by its agent into a new image of its project.

As in Nova, the API creates the image (queued, with the caller's token so
the image service's rights and the project's image count quota apply),
then routes the snapshot to the instance's cell with the image's id; the
agent captures the disk and uploads the data. The image says what it is:
``image_type=snapshot``, the instance, its base image, the user, and the
instance's cell (``instance_cell``: only that cell's agents may upload it,
see images/policy.py), plus what the guest needs to boot again that the
base image said (os_type, os_distro, hw_*, kernel and ramdisk).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import RowMapping

from api.compute import actions
from api.deps import Services
from cells import states
from cells.context import RequestContext
from cells.exception import BadRequest, Conflict, NotFound

LOG = logging.getLogger(__name__)

# Base image properties a snapshot keeps: what the guest needs to boot again as before.
_INHERITED = ("os_type", "os_distro", "kernel_id", "ramdisk_id", "os_command_line", "architecture")
_INHERITED_PREFIX = "hw_"
# Image v2 attributes: a user's metadata key may not name one (it would not be a property).
_IMAGE_ATTRIBUTES = frozenset({
    "id", "name", "status", "visibility", "protected", "disk_format", "container_format",
    "min_disk", "min_ram", "tags", "owner", "os_hidden", "size", "virtual_size", "checksum",
    "os_hash_algo", "os_hash_value", "created_at", "updated_at", "self", "file", "schema",
    "deleted", "deleted_at", "location", "locations", "direct_url", "stores"})
# Properties set here, which decide who may upload the image and how it counts.
_SNAPSHOT_PROPERTIES = frozenset({"image_type", "instance_uuid", "instance_cell", "base_image_ref",
                                  "user_id"})
# Formats a guest disk is in (compute_agent/build.py): a raw base gives a raw snapshot.
_RAW_FORMATS = ("raw", "ami")


def _base_image(services: Services, ctxt: RequestContext, token: str, image_ref: str) -> dict[str, Any]:
    """Return the server's base image as the caller sees it, or {} if it is gone or hidden."""
    if not image_ref:
        return {}
    try:
        return services.image_lookup(image_ref, ctxt.project_id, token)
    except NotFound:
        LOG.info("base image %s of a snapshot is gone: nothing inherited", image_ref)
        return {}


def snapshot_format(base: Mapping[str, Any]) -> str:
    """Return the disk format of a snapshot of a server booted from ``base``.

    The agent writes the snapshot in its base image's format (a simulated
    host's snapshot is the base image's data itself): raw for a raw base,
    qcow2 otherwise (also when the base image is unknown).
    """
    return "raw" if base.get("disk_format") in _RAW_FORMATS else "qcow2"


def image_document(row: RowMapping | Mapping[str, Any], ctxt: RequestContext, base: Mapping[str, Any],
                   name: str, metadata: Mapping[str, str]) -> dict[str, Any]:
    """Return the Image v2 create body of the snapshot; raises BadRequest for a reserved metadata key."""
    for key in metadata:
        if key in _IMAGE_ATTRIBUTES or key in _SNAPSHOT_PROPERTIES:
            raise BadRequest(f"Invalid metadata key {key[:64]!r}: it is set by the snapshot itself.")
    inherited = {k: v for k, v in base.items()
                 if isinstance(v, str) and (k in _INHERITED or k.startswith(_INHERITED_PREFIX))}
    flavor = row["flavor"] or {}
    return {
        "name": name,
        "disk_format": snapshot_format(base),
        "container_format": "bare",
        # Nova's choice when the caller is in the server's project; an admin acting for another
        # project makes it that project's image all the same.
        "visibility": "private",
        "owner": row["project_id"],
        "min_disk": max(int(base.get("min_disk") or 0), int(flavor.get("disk") or 0)),
        "min_ram": int(base.get("min_ram") or 0),
        **inherited,
        **metadata,
        "image_type": "snapshot",
        "instance_uuid": row["uuid"],
        "instance_cell": row["cell_path"],
        "base_image_ref": row["image_ref"] or "",
        "user_id": ctxt.user_id or "",
    }


def create_image(services: Services, ctxt: RequestContext, token: str, uuid: str, name: str,
                 metadata: Mapping[str, str]) -> str:
    """Start a snapshot of server ``uuid`` into a new image; returns the image's id.

    Raises NotFound, InvalidState/Conflict (409), BadRequest, QuotaExceeded
    (the project's image count), ServiceUnavailable. Nothing is left behind
    when the snapshot cannot start: the image is deleted again.
    """
    row = actions.load(services, ctxt, uuid)
    # Refuse before creating anything; the compare-and-swap in perform() decides for good.
    states.begin_action(states.State(row["vm_state"], row["task_state"]), "snapshot")
    if row["cell_path"] is None:
        raise Conflict(f"Cannot 'createImage' instance {uuid} while it is not placed in a cell yet.")
    base = _base_image(services, ctxt, token, row["image_ref"])
    document = image_document(row, ctxt, base, name, metadata)
    image = services.snapshot_images.create(document, token)
    image_id = str(image["id"])
    try:
        actions.perform(services, ctxt, uuid, "snapshot", image_id=image_id,
                        disk_format=document["disk_format"])
    except Exception:
        services.snapshot_images.delete(image_id, token)
        raise
    LOG.info("snapshot of instance %s into image %s started", uuid, image_id)
    return image_id
