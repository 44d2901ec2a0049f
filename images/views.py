"""How an image looks on the wire (Image v2): base attributes and properties side by side."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from cells.db.image_models import Image

IMAGE_SCHEMA = "/v2/schemas/image"
IMAGES_SCHEMA = "/v2/schemas/images"


def timestamp(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def image(img: Image) -> dict[str, Any]:
    """Return the Image v2 representation of one image."""
    # Properties first, so a base attribute always wins over a same-named property.
    body: dict[str, Any] = dict(img.properties or {})
    href = f"/v2/images/{img.id}"
    body.update({
        "id": img.id,
        "name": img.name,
        "status": img.status,
        "disk_format": img.disk_format,
        "container_format": img.container_format,
        "visibility": img.visibility,
        "size": img.size,
        "virtual_size": img.virtual_size,
        "checksum": img.checksum,
        "os_hash_algo": img.os_hash_algo,
        "os_hash_value": img.os_hash_value,
        "min_disk": img.min_disk,
        "min_ram": img.min_ram,
        "protected": img.protected,
        "owner": img.owner,
        "tags": list(img.tags or []),
        "os_hidden": False,
        "created_at": timestamp(img.created_at),
        "updated_at": timestamp(img.updated_at),
        "self": href,
        "file": f"{href}/file",
        "schema": IMAGE_SCHEMA,
    })
    return body


def images(imgs: list[Image], params: list[tuple[str, str]], next_marker: str | None) -> dict[str, Any]:
    """Return a page of images with its ``first`` and, if more follow, ``next`` links.

    ``params`` are the query parameters of the request; the next link keeps
    them (filters, sort, limit) and replaces the marker.
    """
    body: dict[str, Any] = {
        "images": [image(i) for i in imgs],
        "first": "/v2/images",
        "schema": IMAGES_SCHEMA,
    }
    if next_marker:
        kept = [(k, v) for k, v in params if k != "marker"]
        body["next"] = "/v2/images?" + urlencode([*kept, ("marker", next_marker)])
    return body
