"""Image data: PUT /v2/images/{id}/file (streamed upload), GET /v2/images/{id}/file (streamed download)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from sqlalchemy.orm import Session

from cells.db.image_models import Image
from cells.exception import BadRequest, PayloadTooLarge
from images import integrity, policy, quota, relay, runtime
from images.errors import Gone, LengthRequired, UnsupportedMediaType
from images.registry import UPLOAD_HEARTBEAT
from images.store.base import ImageData
from images.streams import Digests, checked, heartbeat, read_body

LOG = logging.getLogger(__name__)

bp = Blueprint("image_data", __name__)

_UPLOAD_TYPES = ("application/octet-stream", "")


def _size_hint() -> int | None:
    raw = request.headers.get("X-OpenStack-Image-Size")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise BadRequest("X-OpenStack-Image-Size must be an integer.") from exc


@bp.put("/v2/images/<image_id>/file")
def upload(image_id: str) -> tuple[str, int] | Response:
    rt, ctx = runtime.current(), runtime.context()
    if rt.cache:
        return relay.upload(rt.cache, ctx, rt.conf.path, image_id)
    if request.mimetype not in _UPLOAD_TYPES:
        raise UnsupportedMediaType(f"Unsupported Content-Type {request.mimetype!r}: "
                                   "use application/octet-stream.")
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    length = None if chunked else request.content_length
    if length is None and not chunked and not request.environ.get("wsgi.input_terminated"):
        raise LengthRequired("Send the image data with a Content-Length or in chunked transfer encoding.")
    hint = _size_hint()

    def check(img: Image) -> None:
        policy.check_write_data(ctx, img, "upload data to")
        if not img.disk_format or not img.container_format:
            raise BadRequest("Properties disk_format, container_format must be set prior to saving data.")

    def verify(digests: Digests) -> None:
        if hint is not None and digests.size != hint:
            raise BadRequest(f"Received {digests.size} bytes but X-OpenStack-Image-Size announced {hint}.")

    img = rt.registry.begin_upload(ctx, image_id, check)
    digests = Digests()
    owner, snapshot = img.owner or "", quota.is_snapshot(img.properties)

    def within_quota(s: Session) -> None:
        # Another upload of the project may have finished meanwhile: count again.
        allowed = quota.allowed_bytes(s, rt.conf, owner, snapshot, exclude=img.id)
        if allowed is not None and digests.size > allowed:
            raise quota.too_large(snapshot, allowed)

    try:
        allowed = rt.registry.db.transaction(
            lambda s: quota.allowed_bytes(s, rt.conf, owner, snapshot, exclude=img.id))
        if allowed is not None and length is not None and length > allowed:
            raise quota.too_large(snapshot, allowed)
        body = heartbeat(read_body(request.environ["wsgi.input"], length), UPLOAD_HEARTBEAT,
                         lambda: rt.registry.touch_upload(img.id))
        rt.store.write(img.id, checked(quota.capped(body, allowed, snapshot), digests, verify))
    except BaseException:
        # The store kept nothing; the image may be uploaded again.
        rt.registry.abort_upload(img.id)
        raise
    try:
        finished = rt.registry.finish_upload(img.id, digests.size, digests.checksum, digests.sha512,
                                             within_quota)
    except PayloadTooLarge:
        rt.store.delete(img.id)
        rt.registry.abort_upload(img.id)
        raise
    if not finished:
        rt.store.delete(img.id)
        raise Gone(f"Image {img.id} could not be found after upload: it was deleted during the upload.")
    LOG.info("image %s: %d bytes uploaded", img.id, digests.size)
    return "", 204


@bp.get("/v2/images/<image_id>/file")
def download(image_id: str) -> Response:
    rt, ctx = runtime.current(), runtime.context()
    data: ImageData | None = None
    if rt.cache:
        img, data = rt.cache.open(image_id)
    else:
        img = rt.registry.get(ctx, image_id)
        if img.status == "active":
            data = integrity.open_verified(rt.store, img)
    if data is None:
        return Response(status=204)
    response = Response(iter(data), status=200, mimetype="application/octet-stream",
                        direct_passthrough=True)
    response.headers["Content-Length"] = str(data.size)
    if img.checksum:
        response.headers["Content-MD5"] = img.checksum
    response.call_on_close(data.close)
    return response
