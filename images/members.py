"""Image members: the projects a ``shared`` image is offered to, and whether each accepted.

The owner (or an admin) adds and removes members; only the member itself
moves its status between pending, accepted and rejected. A member sees the
image whatever its status; the default listing shows it only once accepted
(registry._visibility_clause). Each operation is one short transaction that
first finds the image as the caller sees it, so another project's private
image answers 404, never 403.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cells.context import RequestContext
from cells.db.image_models import Image, ImageMember
from cells.db.types import utcnow
from cells.exception import Conflict, NotFound, PayloadTooLarge
from images import policy
from images.registry import Registry

STATUSES = ("pending", "accepted", "rejected")
# As Glance's image_member_quota: one image offered to more projects than this is a mistake or abuse.
MAX_MEMBERS_PER_IMAGE = 128


class Members:
    """Members of the images of one registry, read and written on behalf of a request context."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def list(self, ctx: RequestContext, image_id: str) -> list[ImageMember]:
        """Return the members the caller may see: all for the owner or an admin, else its own.

        Raises NotFound if the image is invisible, Forbidden if it is not shared.
        """

        def read(s: Session) -> list[ImageMember]:
            img = self.registry.visible(s, ctx, image_id)
            policy.check_shared(img)
            stmt = sa.select(ImageMember).where(ImageMember.image_id == img.id)
            if not _sees_all(ctx, img):
                stmt = stmt.where(ImageMember.member_id == (ctx.project_id or ""))
            return list(s.scalars(stmt.order_by(ImageMember.created_at, ImageMember.member_id)))

        return self.registry.db.transaction(read)

    def get(self, ctx: RequestContext, image_id: str, member_id: str) -> ImageMember:
        """Return one member (the owner sees any, a member itself); raises NotFound or Forbidden."""
        return self.registry.db.transaction(lambda s: self._member(s, ctx, image_id, member_id)[1])

    def add(self, ctx: RequestContext, image_id: str, member_id: str) -> ImageMember:
        """Offer the image to ``member_id`` (status pending); raises Conflict if already a member."""

        def insert(s: Session) -> ImageMember:
            img = self.registry.visible(s, ctx, image_id, lock=True)
            policy.check_share(ctx, img)
            if s.get(ImageMember, (img.id, member_id)) is not None:
                raise Conflict(f"Member {member_id} is duplicated for image {img.id}.")
            count = s.scalar(sa.select(sa.func.count()).select_from(ImageMember)
                             .where(ImageMember.image_id == img.id)) or 0
            if count >= MAX_MEMBERS_PER_IMAGE:
                raise PayloadTooLarge(f"Image {img.id} already has {count} members; "
                                f"at most {MAX_MEMBERS_PER_IMAGE} are allowed.")
            now = utcnow()
            member = ImageMember(image_id=img.id, member_id=member_id, status="pending",
                                 created_at=now, updated_at=now)
            s.add(member)
            s.flush()
            return member

        try:
            return self.registry.db.transaction(insert)
        except IntegrityError as exc:
            # Another request added the same member between our SELECT and INSERT.
            raise Conflict(f"Member {member_id} is duplicated for image {image_id}.") from exc

    def set_status(self, ctx: RequestContext, image_id: str, member_id: str, status: str) -> ImageMember:
        """Accept, reject or reset the caller's own membership; returns the member."""
        policy.check_member_status(ctx, member_id)

        def update(s: Session) -> ImageMember:
            member = self._member(s, ctx, image_id, member_id)[1]
            if member.status != status:
                member.status, member.updated_at = status, utcnow()
            return member

        return self.registry.db.transaction(update)

    def remove(self, ctx: RequestContext, image_id: str, member_id: str) -> None:
        """Withdraw the image from ``member_id`` (owner or admin); raises NotFound or Forbidden."""

        def delete(s: Session) -> None:
            img, member = self._member(s, ctx, image_id, member_id)
            policy.check_share(ctx, img)
            s.delete(member)

        self.registry.db.transaction(delete)

    def _member(self, s: Session, ctx: RequestContext, image_id: str,
                member_id: str) -> tuple[Image, ImageMember]:
        img = self.registry.visible(s, ctx, image_id)
        policy.check_shared(img)
        member = s.get(ImageMember, (img.id, member_id))
        if member is None or not (_sees_all(ctx, img) or member_id == ctx.project_id):
            raise NotFound(f"Member {member_id} not found for image {img.id}.")
        return img, member


def _sees_all(ctx: RequestContext, img: Image) -> bool:
    return policy.reads_all(ctx) or policy.owns(ctx, img)
