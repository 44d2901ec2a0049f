"""Who may see and change which image: the rules that need the image, pure functions of the context.

Which roles may call which route (writes need member or admin) is the
policy table's business (identity/policy.yaml, enforced by the auth
middleware). Here: an image is visible to its owner, to everyone when
public or community, to the projects it is shared with while its
visibility is ``shared`` (whatever their member status: a pending member
must see what it is asked to accept), and to admins and cell service
accounts (a compute cell's cache fetching on behalf of its hypervisors);
only the owner or an admin may change an image or its member list, only the
member itself may accept or reject, and only an admin may make an image
public or give it to another project.

Cell service accounts are trusted to read. Their one write is a compute
agent's snapshot: data into, or removal of, a snapshot image the Compute API
created for an instance of the token's own cell, before it has data
(``cell_may_write``).
"""

from __future__ import annotations

from typing import Any, Protocol

from cells.context import RequestContext
from cells.exception import Forbidden

OPEN_VISIBILITIES = ("public", "community")


# Properties the Compute API sets on a snapshot image (Nova's image_type, and our instance_cell).
IMAGE_TYPE, SNAPSHOT, INSTANCE_CELL = "image_type", "snapshot", "instance_cell"
# A snapshot image before its data is complete; "saving" is an upload under way (or one that died).
_UNFILLED = ("queued", "saving")


class Owned(Protocol):
    owner: str | None
    visibility: str


class Stored(Owned, Protocol):
    status: str
    properties: dict[str, Any]


def reads_all(ctx: RequestContext) -> bool:
    """True if the caller may read every image (admins and cell service accounts)."""
    return ctx.is_admin or ctx.is_service


def owns(ctx: RequestContext, image: Owned) -> bool:
    return ctx.project_id is not None and image.owner == ctx.project_id


def can_see(ctx: RequestContext, image: Owned, is_member: bool = False) -> bool:
    """True if the caller may see the image; ``is_member``: the caller's project is one of its members."""
    return reads_all(ctx) or image.visibility in OPEN_VISIBILITIES or owns(ctx, image) or (
        is_member and image.visibility == "shared")


def check_share(ctx: RequestContext, image: Owned) -> None:
    """Raise Forbidden unless the caller may add or remove members of this (visible) image."""
    if not (ctx.is_admin or owns(ctx, image)):
        raise Forbidden("You are not permitted to modify the members of this image.")
    check_shared(image)


def check_shared(image: Owned) -> None:
    """Raise Forbidden unless the image's visibility is ``shared`` (only those have members)."""
    if image.visibility != "shared":
        raise Forbidden(f"Only shared images have members; this image's visibility is {image.visibility}.")


def check_member_status(ctx: RequestContext, member_id: str) -> None:
    """Raise Forbidden unless the caller is the member whose status it sets."""
    if ctx.project_id is None or ctx.project_id != member_id:
        raise Forbidden("Only the member itself may accept or reject an image shared with it.")


def check_modify(ctx: RequestContext, image: Owned, action: str = "modify") -> None:
    """Raise Forbidden unless the caller may change this (visible) image."""
    if ctx.is_admin or owns(ctx, image):
        return
    raise Forbidden(f"You are not permitted to {action} this image.")


def cell_may_write(ctx: RequestContext, image: Stored) -> bool:
    """True if a cell's service account may upload to or delete this image.

    Only a snapshot (``image_type=snapshot``) of an instance of the cell that
    issued the token (``instance_cell``, set by the Compute API) that has no
    data yet: a cell can never touch a finished image, nor another cell's.
    """
    properties = image.properties or {}
    return (ctx.is_service and ctx.issuer is not None and image.status in _UNFILLED
            and properties.get(IMAGE_TYPE) == SNAPSHOT
            and properties.get(INSTANCE_CELL) == ctx.issuer)


def check_write_data(ctx: RequestContext, image: Stored, action: str) -> None:
    """Raise Forbidden unless the caller may upload to or delete this (visible) image.

    Admins and the owner may. A service account writes only as its cell's
    agent, for its snapshots: the project its token names never makes it
    an owner (the policy table lets the service role reach these routes).
    """
    if ctx.is_admin:
        return
    if cell_may_write(ctx, image) if ctx.is_service else owns(ctx, image):
        return
    raise Forbidden(f"You are not permitted to {action} this image.")


def check_visibility(ctx: RequestContext, visibility: str) -> None:
    """Raise Forbidden if the caller may not give an image this visibility."""
    if visibility == "public" and not ctx.is_admin:
        raise Forbidden("You are not authorized to complete publicize_image action.")


def check_owner(ctx: RequestContext, owner: str | None) -> None:
    """Raise Forbidden if a non-admin tries to give an image to another project, or to none.

    A token scoped to no project (a domain-scoped one, say) has no project to own
    the image: it would be created owned by nobody, which only an admin can see.
    """
    if ctx.is_admin:
        return
    if ctx.project_id is None:
        raise Forbidden("A project-scoped token is required to create images.")
    if owner != ctx.project_id:
        raise Forbidden("You are not permitted to create images owned by another project.")
