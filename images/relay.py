"""The two writes a compute cell's image cache relays to the master: its agents' snapshots.

Everything else on a cell's cache is read-only. A compute agent uploads a
snapshot's data (``PUT /v2/images/{id}/file``) and removes a snapshot that
failed (``DELETE /v2/images/{id}``) at its cell's image endpoint, the only
one it knows; the cache streams the request on to the master with the
cell's own service token, never holding the data, and answers with the
master's answer. Whether the write is allowed is decided by the master
(images/policy.py ``cell_may_write``): the token only vouches for the cell.
"""

from __future__ import annotations

import logging
import re

from flask import Response, request

from cells.context import RequestContext
from cells.exception import CloudError, Forbidden, ServiceUnavailable
from images.cache import ImageCache
from images.errors import LengthRequired
from images.registry import Registry
from images.streams import read_body

LOG = logging.getLogger(__name__)

# (method, path) of the relayed routes, matched before the cache's read-only guard.
ROUTES = (("PUT", re.compile(r"^/v2/images/[^/]+/file$")), ("DELETE", re.compile(r"^/v2/images/[^/]+$")))
# Request headers the master needs to judge an upload.
_FORWARDED = ("Content-Type", "X-OpenStack-Image-Size")


def is_relayed(method: str, path: str) -> bool:
    """True if a request to a cell's cache is one of the writes relayed to the master."""
    return any(method == m and pattern.match(path) for m, pattern in ROUTES)


def _check_caller(ctx: RequestContext, cell_path: str) -> None:
    # Only this cell's own service accounts: the master is told the write comes from this cell.
    if not ctx.is_service or ctx.issuer != cell_path:
        raise Forbidden("This cell's image cache relays snapshots of the cell's compute agents only.")


def _answer(status: int, body: bytes, content_type: str | None) -> Response:
    if status == 401:
        # The master refused this cell's own token, not the caller's: passed on as a 401, the
        # agent would renew its token and give the snapshot up. A 503 makes it try again later,
        # when the cell's token has been renewed (MasterClient.write).
        raise ServiceUnavailable("The master image service refused this cell's service token; "
                                 "try again.")
    if status >= 500:
        raise ServiceUnavailable(f"The master image service answered {status}.")
    return Response(body, status=status, content_type=content_type or "application/json")


def upload(cache: ImageCache, ctx: RequestContext, cell_path: str, image_id: str) -> Response:
    """Stream the request's image data on to the master; returns the master's answer."""
    _check_caller(ctx, cell_path)
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    length = None if chunked else request.content_length
    if length is None and not chunked and not request.environ.get("wsgi.input_terminated"):
        raise LengthRequired("Send the image data with a Content-Length or in chunked transfer encoding.")
    headers = {name: request.headers[name] for name in _FORWARDED if name in request.headers}
    body = read_body(request.environ["wsgi.input"], length)
    path = f"/v2/images/{image_id}/file"
    with cache.master.write("PUT", path, body, length, headers) as response:
        answer = _answer(response.status_code, response.content, response.headers.get("Content-Type"))
    if response.status_code in (204, 403, 409):
        if response.status_code == 204:
            LOG.info("snapshot data of image %s relayed to the master", image_id)
        try:
            # The cell's copy (if any) may still say queued: show the agent what the master has now
            # (refused with 403 or 409, the data may be there from an earlier attempt).
            cache.refresh(image_id)
        except CloudError as exc:
            LOG.warning("cannot refresh image %s from the master: %s", image_id, exc.message)
    return answer


def delete(cache: ImageCache, registry: Registry, ctx: RequestContext, cell_path: str,
           image_id: str) -> Response:
    """Ask the master to delete a snapshot image; returns the master's answer."""
    _check_caller(ctx, cell_path)
    with cache.master.write("DELETE", f"/v2/images/{image_id}") as response:
        answer = _answer(response.status_code, response.content, response.headers.get("Content-Type"))
    if response.status_code == 204:
        LOG.info("snapshot image %s deleted at the master", image_id)
        if registry.find(image_id) is not None:
            registry.delete(ctx, image_id, lambda _img: None)  # the cell's copy goes too
    return answer
