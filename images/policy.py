"""Who may see and change which image: the rules that need the image, pure functions of the context.

Which roles may call which route (writes need member or admin) is the
policy table's business (identity/policy.yaml, enforced by the auth
middleware). Here: an image is visible to its owner, to everyone when
public or community, and to admins and cell service accounts (a compute
cell's cache fetching on behalf of its hypervisors); only the owner or an
admin may change an image, and only an admin may make it public or give it
to another project.
"""

from __future__ import annotations

from typing import Protocol

from cells.context import RequestContext
from cells.exception import Forbidden

OPEN_VISIBILITIES = ("public", "community")


class Owned(Protocol):
    owner: str | None
    visibility: str


def reads_all(ctx: RequestContext) -> bool:
    """True if the caller may read every image (admins and cell service accounts)."""
    return ctx.is_admin or ctx.is_service


def can_see(ctx: RequestContext, image: Owned) -> bool:
    return reads_all(ctx) or image.visibility in OPEN_VISIBILITIES or (
        ctx.project_id is not None and image.owner == ctx.project_id)


def check_modify(ctx: RequestContext, image: Owned, action: str = "modify") -> None:
    """Raise Forbidden unless the caller may change this (visible) image."""
    if ctx.is_admin or (ctx.project_id is not None and image.owner == ctx.project_id):
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
