"""JSON Patch (application/openstack-images-v2.1-json-patch) applied to an image row.

The image is turned into its document of settable attributes and
properties, the operations apply to the document, the result is validated
as a whole and only then written back, so a bad patch changes nothing.
"""

from __future__ import annotations

from typing import Any

from cells import image_properties
from cells.context import RequestContext
from cells.db.image_models import Image
from cells.exception import Conflict, Forbidden
from images import policy, schemas
from images.schemas import check_settable, unique

_BASE = ("name", "visibility", "protected", "disk_format", "container_format", "min_disk", "min_ram",
         "tags", "owner", "os_hidden")
# Only meaningful before data exists: the data was stored as this format.
_FORMATS = ("disk_format", "container_format")


def document(img: Image) -> dict[str, Any]:
    """Return the image's settable attributes and properties as one JSON object."""
    doc: dict[str, Any] = dict(img.properties or {})
    doc.update({"name": img.name, "visibility": img.visibility, "protected": img.protected,
                "disk_format": img.disk_format, "container_format": img.container_format,
                "min_disk": img.min_disk, "min_ram": img.min_ram, "tags": list(img.tags or []),
                "owner": img.owner, "os_hidden": False})
    return doc


def _key(path: str) -> str:
    # One JSON pointer segment (the schema allows no deeper path).
    return path[1:].replace("~1", "/").replace("~0", "~")


def apply(ctx: RequestContext, img: Image, ops: list[dict[str, Any]]) -> None:
    """Apply ``ops`` to ``img``; raises Forbidden, Conflict or BadRequest and then changes nothing."""
    doc = document(img)
    for op in ops:
        key = _key(op["path"])
        check_settable([key])
        if op["op"] == "add":
            doc[key] = op["value"]
        elif op["op"] == "replace":
            if key not in _BASE and key not in doc:
                raise Conflict(f"Property {key} does not exist.")
            doc[key] = op["value"]
        else:
            if key in _BASE:
                raise Forbidden(f"Attribute '{key}' cannot be removed.")
            if key not in doc:
                raise Conflict(f"Property {key} does not exist.")
            del doc[key]
    schemas.validate(schemas.IMAGE, doc, "image after the patch")
    image_properties.check(doc)
    if doc["visibility"] != img.visibility:
        policy.check_visibility(ctx, doc["visibility"])
    if doc["owner"] != img.owner and not ctx.is_admin:
        raise Forbidden("Only an admin may change the owner of an image.")
    for key in _FORMATS:
        if doc[key] != getattr(img, key) and img.status != "queued":
            raise Forbidden(f"Attribute '{key}' can only be replaced for a queued image.")
    for key in _BASE:
        if key not in ("tags", "os_hidden") and doc[key] != getattr(img, key):
            setattr(img, key, doc[key])
    tags = unique(doc["tags"])
    if tags != list(img.tags or []):
        img.tags = tags
    properties = {k: v for k, v in doc.items() if k not in _BASE}
    if properties != (img.properties or {}):
        img.properties = properties
