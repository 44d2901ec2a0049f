"""Boot: resolve the flavor and the image, write the index rows, hand the builds to the scheduler.

In steady state a boot costs one INSERT and one COMMIT: the flavor comes
from memory and the image from a short-lived cache of the image service's
answers. If the scheduler cannot be told, the rows are taken back so no
instance waits in ``scheduling`` for a build that will never come.
"""

from __future__ import annotations

import logging
import re
import secrets
import string
import uuid as uuid_mod
from dataclasses import dataclass, field
from typing import Any

from api.deps import Services
from api.store import servers as server_store
from api.views import flavors as flavor_views
from cells import states
from cells.context import RequestContext
from cells.db.types import utcnow
from cells.exception import BadRequest, NotFound, ServiceUnavailable

LOG = logging.getLogger(__name__)

GIB = 1024**3
# Image ids are UUIDs; anything outside this would change the image service URL we build.
_IMAGE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PASSWORD_CHARS = string.ascii_letters + string.digits
# Image v2 attributes that are not custom properties.
_IMAGE_FIELDS = frozenset({
    "id", "name", "status", "visibility", "protected", "checksum", "os_hash_algo", "os_hash_value",
    "owner", "size", "virtual_size", "min_ram", "min_disk", "disk_format", "container_format",
    "created_at", "updated_at", "tags", "self", "file", "schema", "locations", "direct_url",
    "os_hidden", "stores", "properties",
})


@dataclass
class BootRequest:
    """A validated POST /servers body."""

    name: str
    image_id: str
    flavor_id: str
    metadata: dict[str, str] = field(default_factory=dict)
    key_name: str | None = None
    availability_zone: str | None = None
    min_count: int = 1
    max_count: int = 1
    admin_pass: str | None = None
    return_reservation_id: bool = False


def _last_segment(ref: str | int) -> str:
    """An id given as itself or as a link (``http://.../flavors/1``)."""
    return str(ref).rstrip("/").rsplit("/", 1)[-1]


def _boot_image(server: dict[str, Any]) -> str:
    """The image to boot: imageRef, or the boot device of block_device_mapping_v2.

    Only image-backed local root disks exist here: volumes, snapshots and
    extra blank disks are refused rather than silently dropped.
    """
    image_ref = _last_segment(server.get("imageRef") or "")
    boot_image = ""
    for device in server.get("block_device_mapping_v2") or []:
        source, destination = device.get("source_type"), device.get("destination_type", "local")
        if source != "image" or destination != "local":
            raise BadRequest(f"Block devices of source_type {source} and destination_type "
                             f"{destination} are not supported: only image-backed local root disks.")
        if str(device.get("boot_index")) != "0":
            raise BadRequest("Only the boot device (boot_index 0) may be given in "
                             "block_device_mapping_v2.")
        boot_image = str(device.get("uuid") or "")
    if image_ref and boot_image and image_ref != boot_image:
        raise BadRequest("imageRef and the image of the boot device differ.")
    image = image_ref or boot_image
    if not image:
        raise BadRequest("Missing imageRef attribute")
    return image


def parse(body: dict[str, Any]) -> BootRequest:
    """Return the BootRequest of a schema-valid body; raises BadRequest for inconsistent counts."""
    server = body["server"]
    min_count = int(server.get("min_count", 1))
    max_count = int(server.get("max_count", min_count))
    if min_count > max_count:
        raise BadRequest("min_count must be <= max_count")
    image_id = _boot_image(server)
    if not _IMAGE_ID.match(image_id):
        raise BadRequest("Invalid imageRef provided.")
    reservation = server.get("return_reservation_id", False)
    return BootRequest(
        name=server["name"],
        image_id=image_id,
        flavor_id=_last_segment(server["flavorRef"]),
        metadata=dict(server.get("metadata") or {}),
        key_name=server.get("key_name"),
        availability_zone=server.get("availability_zone"),
        min_count=min_count,
        max_count=max_count,
        admin_pass=server.get("adminPass"),
        return_reservation_id=reservation is True or str(reservation).lower() in ("true", "1"),
    )


def _image_for_build(image: dict[str, Any]) -> dict[str, Any]:
    props = image.get("properties")
    if not isinstance(props, dict):
        props = {k: v for k, v in image.items() if k not in _IMAGE_FIELDS}
    return {
        "id": image["id"],
        "name": image.get("name"),
        "disk_format": image.get("disk_format"),
        "container_format": image.get("container_format"),
        "min_disk": int(image.get("min_disk") or 0),
        "min_ram": int(image.get("min_ram") or 0),
        "size": image.get("size"),
        "checksum": image.get("checksum"),
        "os_hash_algo": image.get("os_hash_algo"),
        "os_hash_value": image.get("os_hash_value"),
        "properties": props,
    }


def _check_fits(flavor: dict[str, Any], image: dict[str, Any]) -> None:
    """Raise BadRequest if the flavor is too small for the image (Nova's messages)."""
    root_gb = flavor["root_gb"]
    if image["min_ram"] > flavor["memory_mb"]:
        raise BadRequest("Flavor's memory is too small for requested image.")
    # A zero-disk flavor sizes the root disk from the image, so only real sizes are checked.
    if root_gb:
        if image["min_disk"] > root_gb:
            raise BadRequest("Flavor's disk is too small for requested image. Flavor disk is "
                             f"{root_gb * GIB} bytes, minimum disk is {image['min_disk'] * GIB} bytes.")
        size = image.get("size")
        if isinstance(size, int) and size > root_gb * GIB:
            raise BadRequest("Flavor's disk is too small for requested image. Flavor disk is "
                             f"{root_gb * GIB} bytes, image is {size} bytes.")


def resolve(services: Services, ctxt: RequestContext, token: str,
            req: BootRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (flavor row, build-request image); raises BadRequest for a bad flavor or image."""
    flavor = services.flavors.get(req.flavor_id)
    if flavor is None or flavor["disabled"] or not (flavor["is_public"] or ctxt.is_admin):
        raise BadRequest("Invalid flavorRef provided.")
    try:
        document = services.image_lookup(req.image_id, ctxt.project_id, token)
    except NotFound:
        raise BadRequest(f"Image {req.image_id} could not be found.") from None
    if document.get("status") != "active":
        raise BadRequest(f"Image {req.image_id} is not active.")
    image = _image_for_build(document)
    _check_fits(flavor, image)
    return flavor, image


def _rows(ctxt: RequestContext, req: BootRequest, flavor: dict[str, Any]) -> list[dict[str, Any]]:
    now = utcnow().replace(microsecond=0)
    embedded = flavor_views.embedded(flavor)
    count = req.max_count
    rows = []
    for index in range(1, count + 1):
        rows.append({
            "uuid": str(uuid_mod.uuid4()),
            "project_id": ctxt.project_id,
            "user_id": ctxt.user_id,
            # Nova's multi_instance_display_name_template: "%(name)s-%(count)d".
            "name": f"{req.name}-{index}" if count > 1 else req.name,
            "cell_path": None,
            "host": None,
            "vm_state": states.BUILDING,
            "task_state": states.SCHEDULING,
            "power_state": states.NOSTATE,
            "flavor": embedded,
            "image_ref": req.image_id,
            "key_name": req.key_name,
            "metadata": req.metadata,
            "availability_zone": req.availability_zone,
            "fault": None,
            "version": 0,
            "created_at": now,
            "updated_at": now,
            "deleted": False,
        })
    return rows


def build_request(row: dict[str, Any], image: dict[str, Any]) -> dict[str, Any]:
    """The message the cell scheduler receives for one instance."""
    instance = {key: row[key] for key in ("uuid", "project_id", "user_id", "name", "flavor",
                                          "image_ref", "key_name", "availability_zone")}
    instance["metadata"] = row["metadata"]
    return {"instance": instance, "image": image}


def new_admin_pass() -> str:
    return "".join(secrets.choice(_PASSWORD_CHARS) for _ in range(12))


def boot(services: Services, ctxt: RequestContext, token: str, req: BootRequest) -> list[str]:
    """Create the instances of ``req``; returns their uuids.

    Raises BadRequest for a bad flavor or image, ServiceUnavailable if the
    image service or the scheduler cannot be reached (nothing is left behind).
    """
    flavor, image = resolve(services, ctxt, token, req)
    rows = _rows(ctxt, req, flavor)
    server_store.insert(services.db, rows)
    uuids = [row["uuid"] for row in rows]
    try:
        services.scheduler_api.schedule_instances(ctxt, [build_request(r, image) for r in rows])
    except Exception as exc:  # noqa: BLE001 - any transport failure means: nobody will build these
        LOG.error("cannot reach the scheduler (%s); taking back %d instance(s)",
                  type(exc).__name__, len(uuids))
        server_store.forget_unscheduled(services.db, uuids)
        raise ServiceUnavailable("The scheduler cannot be reached; no server was created. "
                                 "Please retry.") from exc
    return uuids
