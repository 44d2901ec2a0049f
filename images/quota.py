"""Image quotas of a project: its limits (ImageQuota row or configured defaults) and its usage.

Usage is computed from the images table rather than kept in counters, so it
can never drift: a project's count is its non-deleted images, its bytes the
sizes of those images, split into snapshots (``image_type == "snapshot"``, as
Nova marks them) and the rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.config import CellConfig
from cells.db.image_models import Image, ImageQuota
from cells.exception import PayloadTooLarge

UNLIMITED = -1
FIELDS = ("images", "image_bytes", "snapshot_bytes")


@dataclass(frozen=True)
class Limits:
    images: int
    image_bytes: int
    snapshot_bytes: int


@dataclass(frozen=True)
class Usage:
    images: int
    image_bytes: int
    snapshot_bytes: int


def is_snapshot(properties: dict[str, object] | None) -> bool:
    """True if an image with these properties counts against snapshot bytes."""
    return bool(properties) and (properties or {}).get("image_type") == "snapshot"


def limits(s: Session, conf: CellConfig, project_id: str) -> Limits:
    """Return the project's limits: its own where set, the configured defaults otherwise."""
    row = s.get(ImageQuota, project_id)
    defaults = (conf.image_quota_images, conf.image_quota_image_bytes, conf.image_quota_snapshot_bytes)
    own = (row.images, row.image_bytes, row.snapshot_bytes) if row else (None, None, None)
    values = [d if o is None else o for o, d in zip(own, defaults, strict=True)]
    return Limits(*values)


def stored(s: Session, project_id: str) -> dict[str, int | None]:
    """Return the project's own limits as stored (None: the default applies)."""
    row = s.get(ImageQuota, project_id)
    return {f: getattr(row, f) if row else None for f in FIELDS}


def set_limits(s: Session, project_id: str, values: dict[str, int | None]) -> None:
    """Store the given limits of a project (None puts a limit back to the default)."""
    row = s.get(ImageQuota, project_id)
    if row is None:
        row = ImageQuota(project_id=project_id)
        s.add(row)
    for field, value in values.items():
        setattr(row, field, value)
    row.updated_at = sa.func.now()  # type: ignore[assignment]
    s.flush()


def usage(s: Session, project_id: str, exclude: str | None = None) -> Usage:
    """Return what the project's non-deleted images use; ``exclude`` leaves one image out."""
    stmt = sa.select(Image.id, Image.size, Image.properties).where(
        Image.owner == project_id, Image.deleted.is_(False))
    count = image_bytes = snapshot_bytes = 0
    for image_id, size, properties in s.execute(stmt):
        count += 1
        if image_id == exclude:
            continue
        if is_snapshot(properties):
            snapshot_bytes += size or 0
        else:
            image_bytes += size or 0
    return Usage(count, image_bytes, snapshot_bytes)


def check_count(s: Session, conf: CellConfig, project_id: str) -> None:
    """Raise PayloadTooLarge (413) if the project may not register one more image."""
    limit = limits(s, conf, project_id).images
    if limit != UNLIMITED and usage(s, project_id).images + 1 > limit:
        raise PayloadTooLarge(f"Image count quota exceeded: project {project_id} may have at most "
                              f"{limit} images.")


def allowed_bytes(s: Session, conf: CellConfig, project_id: str, snapshot: bool,
                  exclude: str | None = None) -> int | None:
    """Return how many more bytes of this kind the project may store; None if unlimited."""
    lim = limits(s, conf, project_id)
    used = usage(s, project_id, exclude)
    limit, current = ((lim.snapshot_bytes, used.snapshot_bytes) if snapshot
                      else (lim.image_bytes, used.image_bytes))
    if limit == UNLIMITED:
        return None
    return max(0, limit - current)


def too_large(snapshot: bool, allowed: int) -> PayloadTooLarge:
    """The error of an upload that would cross the project's byte limit."""
    kind = "snapshot" if snapshot else "image"
    return PayloadTooLarge(f"The {kind} storage quota would be exceeded: the project may store "
                           f"only {allowed} more bytes of {kind}s.")


def capped(chunks: Iterator[bytes], allowed: int | None, snapshot: bool) -> Iterator[bytes]:
    """Yield ``chunks`` until their total would pass ``allowed``; then raise PayloadTooLarge.

    Raising before the chunk that crosses is handed on means the store never
    writes past the limit, and (as for any failed write) keeps nothing.
    """
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if allowed is not None and total > allowed:
            raise too_large(snapshot, allowed)
        yield chunk
