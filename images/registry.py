"""The image registry: every read and write of image rows, one short transaction each.

Status moves by compare-and-swap on the status column (``queued -> saving``
only from ``queued``), so two uploads of one image can never both start and
an upload finishing after a delete never resurrects the image.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cells.context import RequestContext
from cells.db.engine import Database
from cells.db.image_models import Image, ImageMember
from cells.db.types import utcnow
from cells.exception import BadRequest, Conflict, NotFound
from images import policy

_UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")

# Sortable keys and the value standing in for NULL, so that NULLs order (and
# page) the same way on MariaDB and SQLite.
SORT_KEYS: dict[str, Any] = {
    "name": "", "status": None, "container_format": "", "disk_format": "", "size": -1,
    "virtual_size": -1, "id": None, "created_at": None, "updated_at": None, "visibility": None,
    "owner": "", "min_disk": None, "min_ram": None,
}
# An upload refreshes its image's updated_at at least this often while data flows
# (a stalled client times out long before); an image saving without a sign of
# life for UPLOAD_STALE belongs to an upload that died with its daemon.
UPLOAD_HEARTBEAT = 60.0
UPLOAD_STALE = dt.timedelta(minutes=10)
DEFAULT_SORT = [("created_at", "desc"), ("id", "desc")]
EQUALITY_FILTERS = ("name", "status", "visibility", "owner", "disk_format", "container_format", "id")
# A filter's value, or the list of values of which any may match (an empty list matches nothing).
FilterValue = str | list[str]


@dataclass
class ListQuery:
    """A parsed, validated list request."""

    filters: dict[str, FilterValue] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)
    size_min: int | None = None
    size_max: int | None = None
    protected: bool | None = None
    # Which images shared with the caller are listed: pending | accepted | rejected | all.
    member_status: str = "accepted"
    sort: list[tuple[str, str]] = field(default_factory=lambda: list(DEFAULT_SORT))
    limit: int = 25
    marker: str | None = None


def is_uuid(value: str) -> bool:
    return bool(_UUID.match(value))


def normalize_id(value: str) -> str:
    """Return the canonical dashed lower-case form of a UUID string."""
    return str(uuid.UUID(value))


class Registry:
    """Image rows in one database, read and written on behalf of a request context."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # --- reads -------------------------------------------------------------

    def get(self, ctx: RequestContext, image_id: str) -> Image:
        """Return the image if the caller may see it; raises NotFound otherwise."""
        return self.db.transaction(lambda s: self._visible_row(s, ctx, image_id))

    def find(self, image_id: str) -> Image | None:
        """Return the image row whatever its visibility (the cache's own lookups), or None."""
        if not is_uuid(image_id):
            return None
        return self.db.transaction(lambda s: _row(s, normalize_id(image_id)))

    def page(self, ctx: RequestContext, query: ListQuery) -> tuple[list[Image], str | None]:
        """Return one page of visible images and the marker of the next page (None at the end).

        Raises BadRequest if the marker is not an image the caller can see.
        """
        return self.db.transaction(lambda s: self._list(s, ctx, query))

    def visible(self, s: Session, ctx: RequestContext, image_id: str, lock: bool = False) -> Image:
        """Return the image within the caller's transaction ``s``; raises NotFound if it cannot see it."""
        return self._visible_row(s, ctx, image_id, lock)

    def _visible_row(self, s: Session, ctx: RequestContext, image_id: str,
                     lock: bool = False) -> Image:
        img = _row(s, normalize_id(image_id), lock) if is_uuid(image_id) else None
        if img is None or not policy.can_see(ctx, img, _is_member(s, ctx, img)):
            raise NotFound(f"No image found with ID {image_id}")
        return img

    def _list(self, s: Session, ctx: RequestContext, q: ListQuery) -> tuple[list[Image], str | None]:
        stmt = sa.select(Image).where(Image.deleted.is_(False),
                                      _visibility_clause(ctx, q.filters.get("visibility"),
                                                         q.member_status))
        for key in EQUALITY_FILTERS:
            if key in q.filters and key != "visibility":
                stmt = stmt.where(_equals(getattr(Image, key), q.filters[key]))
        if q.size_min is not None:
            stmt = stmt.where(Image.size >= q.size_min)
        if q.size_max is not None:
            stmt = stmt.where(Image.size <= q.size_max)
        if q.protected is not None:
            stmt = stmt.where(Image.protected.is_(q.protected))
        # JSON columns are matched by their serialized text first (portable,
        # index-free but cheap) and exactly in Python below.
        for tag in q.tags:
            stmt = stmt.where(Image.tags.cast(sa.Text).like(_like(json.dumps(tag)), escape="!"))
        for key, value in q.properties.items():
            needle = f"{json.dumps(key)}: {json.dumps(value)}"
            stmt = stmt.where(Image.properties.cast(sa.Text).like(_like(needle), escape="!"))
        if q.marker is not None:
            try:
                marker = self._visible_row(s, ctx, q.marker)
            except NotFound as exc:
                raise BadRequest(f"Invalid marker: image {q.marker} could not be found.") from exc
            stmt = stmt.where(_after(marker, q.sort))
        stmt = stmt.order_by(*(_order(k, d) for k, d in q.sort)).limit(q.limit + 1)
        rows = list(s.scalars(stmt))
        page = rows[:q.limit]
        next_marker = page[-1].id if len(rows) > q.limit else None
        return [r for r in page if _matches(r, q)], next_marker

    # --- writes ------------------------------------------------------------

    def create(self, ctx: RequestContext, values: dict[str, Any]) -> Image:
        """Insert a queued image; raises Conflict if the id is taken."""
        now = utcnow()
        img = Image(id=normalize_id(values.pop("id", None) or str(uuid.uuid4())), status="queued",
                    created_at=now, updated_at=now, deleted=False, **values)

        def insert(s: Session) -> Image:
            s.add(img)
            s.flush()
            return img

        try:
            return self.db.transaction(insert)
        except IntegrityError as exc:
            raise Conflict(f"Image with identifier {img.id} already exists!") from exc

    def update(self, ctx: RequestContext, image_id: str, change: Callable[[Image], None]) -> Image:
        """Apply ``change`` to the visible image under a row lock; returns the image.

        ``change`` raises to refuse (Forbidden, Conflict, BadRequest); NotFound
        if the caller cannot see the image.
        """

        def apply(s: Session) -> Image:
            img = self._visible_row(s, ctx, image_id, lock=True)
            change(img)
            if s.is_modified(img):
                img.updated_at = utcnow()
            return img

        return self.db.transaction(apply)

    def delete(self, ctx: RequestContext, image_id: str, check: Callable[[Image], None]) -> Image:
        """Mark the visible image deleted after ``check`` allowed it; returns it."""

        def mark(s: Session) -> Image:
            img = self._visible_row(s, ctx, image_id, lock=True)
            check(img)
            img.status, img.deleted, img.updated_at = "deleted", True, utcnow()
            # A deleted image has no members; the soft-deleted row stays for its history.
            s.execute(sa.delete(ImageMember).where(ImageMember.image_id == img.id))
            return img

        return self.db.transaction(mark)

    def begin_upload(self, ctx: RequestContext, image_id: str, check: Callable[[Image], None]) -> Image:
        """Move the visible image from queued to saving; raises Conflict if it is not queued.

        An image left saving by an upload that died (no heartbeat for
        UPLOAD_STALE) is taken over as if it were queued.
        """

        def claim(s: Session) -> Image:
            img = self._visible_row(s, ctx, image_id)
            check(img)
            seen = img.updated_at
            stale = img.status == "saving" and seen < utcnow() - UPLOAD_STALE
            if img.status != "queued" and not stale:
                raise Conflict(f"Image {img.id} has status {img.status!r}: data can only be "
                               "uploaded to a queued image.")
            expected = (Image.status == "queued") if not stale else sa.and_(
                Image.status == "saving", Image.updated_at == seen)
            done = _rowcount(s, sa.update(Image)
                             .where(Image.id == img.id, expected, Image.deleted.is_(False))
                             .values(status="saving", updated_at=utcnow()))
            if done == 0:
                raise Conflict(f"Image {img.id} is being uploaded by another request.")
            img.status = "saving"
            return img

        return self.db.transaction(claim)

    def touch_upload(self, image_id: str) -> None:
        """Record that the upload of a saving image is alive (its heartbeat)."""
        stmt = (sa.update(Image).where(Image.id == image_id, Image.status == "saving")
                .values(updated_at=utcnow()))
        self.db.transaction(lambda s: _rowcount(s, stmt))

    def finish_upload(self, image_id: str, size: int, checksum: str, sha512: str,
                      check: Callable[[Session], None] | None = None) -> bool:
        """Make a saving image active with its data's size and hashes; False if deleted meanwhile.

        ``check`` runs first in the same transaction and raises to refuse (a quota re-check).
        """
        stmt = (sa.update(Image)
                .where(Image.id == image_id, Image.status == "saving", Image.deleted.is_(False))
                .values(status="active", size=size, checksum=checksum, os_hash_algo="sha512",
                        os_hash_value=sha512, updated_at=utcnow()))

        def activate(s: Session) -> int:
            if check is not None:
                check(s)
            return _rowcount(s, stmt)

        return bool(self.db.transaction(activate))

    def abort_upload(self, image_id: str) -> None:
        """Put an image whose upload failed back to queued, ready for another try."""
        stmt = (sa.update(Image).where(Image.id == image_id, Image.status == "saving")
                .values(status="queued", updated_at=utcnow()))
        self.db.transaction(lambda s: s.execute(stmt))

    def save_copy(self, values: dict[str, Any]) -> Image:
        """Insert or replace a row copied from the master registry (the cache's registry)."""
        try:
            return self.db.transaction(lambda s: s.merge(Image(**values)))
        except IntegrityError:
            # Another request inserted the same copy between our SELECT and INSERT.
            return self.db.transaction(lambda s: s.merge(Image(**values)))


def _rowcount(s: Session, stmt: sa.Update) -> int:
    result = cast(sa.CursorResult[Any], s.execute(stmt))
    return result.rowcount


def _row(s: Session, image_id: str, lock: bool = False) -> Image | None:
    stmt = sa.select(Image).where(Image.id == image_id, Image.deleted.is_(False))
    if lock:
        stmt = stmt.with_for_update()
    return s.scalars(stmt).first()


def _equals(column: Any, value: FilterValue) -> sa.ColumnElement[bool]:
    """``column = value``, or ``column IN (values)`` for a list (one indexed SELECT for any number)."""
    return column.in_(value) if isinstance(value, list) else column == value


def _is_member(s: Session, ctx: RequestContext, img: Image) -> bool:
    """True if the caller's project is a member of this shared image it neither owns nor reads anyway."""
    if img.visibility != "shared" or ctx.project_id is None or policy.owns(ctx, img) or policy.reads_all(ctx):
        return False
    return s.get(ImageMember, (img.id, ctx.project_id)) is not None


def _shared_with(ctx: RequestContext, member_status: str) -> sa.ColumnElement[bool]:
    """Shared images of which the caller's project is a member with ``member_status`` (an EXISTS)."""
    if ctx.project_id is None:
        return sa.false()
    member = sa.select(ImageMember.image_id).where(ImageMember.image_id == Image.id,
                                                   ImageMember.member_id == ctx.project_id)
    if member_status != "all":
        member = member.where(ImageMember.status == member_status)
    return sa.and_(Image.visibility == "shared", member.exists())


def _visibility_clause(ctx: RequestContext, visibility: FilterValue | None,
                       member_status: str = "accepted") -> sa.ColumnElement[bool]:
    """Which rows a listing may return: Glance's rules, as one WHERE of the listing's single SELECT.

    Unfiltered: owned, public, and shared with the caller (accepted by default);
    community images only when asked for; admins and services read everything.
    """
    if isinstance(visibility, list):
        return sa.or_(sa.false(), *(_visibility_clause(ctx, v, member_status) for v in visibility))
    mine = Image.owner == ctx.project_id if ctx.project_id else sa.false()
    everyone = policy.reads_all(ctx)
    if visibility is None:
        return sa.true() if everyone else sa.or_(mine, Image.visibility == "public",
                                                 _shared_with(ctx, member_status))
    if visibility == "all":
        return sa.true() if everyone else sa.or_(mine, Image.visibility.in_(policy.OPEN_VISIBILITIES),
                                                 _shared_with(ctx, member_status))
    if visibility in policy.OPEN_VISIBILITIES:
        return Image.visibility == visibility
    if everyone:
        return Image.visibility == visibility
    if visibility == "shared":
        return sa.or_(sa.and_(Image.visibility == "shared", mine), _shared_with(ctx, member_status))
    return sa.and_(Image.visibility == visibility, mine)


def _expr(key: str) -> sa.ColumnElement[Any]:
    column = getattr(Image, key)
    default = SORT_KEYS[key]
    return column if default is None else sa.func.coalesce(column, default)


def _order(key: str, direction: str) -> sa.ColumnElement[Any]:
    return _expr(key).asc() if direction == "asc" else _expr(key).desc()


def _after(marker: Image, sort: list[tuple[str, str]]) -> sa.ColumnElement[bool]:
    """Rows strictly after ``marker`` in the order ``sort`` (keyset pagination)."""
    clauses = []
    equal: list[sa.ColumnElement[bool]] = []
    for key, direction in sort:
        value = getattr(marker, key)
        if value is None:
            value = SORT_KEYS[key]
        expr = _expr(key)
        clauses.append(sa.and_(*equal, expr > value if direction == "asc" else expr < value))
        equal.append(expr == value)
    return sa.or_(*clauses)


def _like(text: str) -> str:
    escaped = text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


def _matches(img: Image, q: ListQuery) -> bool:
    tags = img.tags or []
    props = img.properties or {}
    return all(t in tags for t in q.tags) and all(props.get(k) == v for k, v in q.properties.items())


def parse_time(value: str | None) -> dt.datetime | None:
    """Parse an Image v2 timestamp (``2024-01-02T03:04:05Z``) into naive UTC."""
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed
