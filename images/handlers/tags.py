"""Image tags one at a time (Glance v2): PUT and DELETE /v2/images/{id}/tags/{tag}.

openstacksdk's ``add_tag``/``remove_tag`` call these; a PATCH of ``/tags``
does the same for a whole list. Tags are a set: adding one twice is a no-op.
"""

from __future__ import annotations

from flask import Blueprint

from cells.db.image_models import Image
from cells.exception import BadRequest, NotFound, PayloadTooLarge
from images import policy, runtime

bp = Blueprint("tags", __name__)

MAX_TAG_LENGTH = 255
# As the tags attribute's maxItems in images/schemas.py (Glance's image_tag_quota).
MAX_TAGS = 128


@bp.put("/v2/images/<image_id>/tags/<tag>")
def add(image_id: str, tag: str) -> tuple[str, int]:
    ctx = runtime.context()
    if not 1 <= len(tag) <= MAX_TAG_LENGTH:
        raise BadRequest(f"A tag must be 1 to {MAX_TAG_LENGTH} characters long.")

    def change(img: Image) -> None:
        policy.check_modify(ctx, img)
        tags = list(img.tags or [])
        if tag in tags:
            return
        if len(tags) >= MAX_TAGS:
            raise PayloadTooLarge(f"Image {img.id} already has {len(tags)} tags; at most {MAX_TAGS} "
                                  "are allowed.")
        img.tags = [*tags, tag]

    runtime.current().registry.update(ctx, image_id, change)
    return "", 204


@bp.delete("/v2/images/<image_id>/tags/<tag>")
def remove(image_id: str, tag: str) -> tuple[str, int]:
    ctx = runtime.context()

    def change(img: Image) -> None:
        policy.check_modify(ctx, img)
        tags = list(img.tags or [])
        if tag not in tags:
            raise NotFound(f"Tag {tag} not found on image {img.id}.")
        img.tags = [t for t in tags if t != tag]

    runtime.current().registry.update(ctx, image_id, change)
    return "", 204
