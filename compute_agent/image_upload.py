"""The agent's two writes to its cell's image endpoint: a snapshot's data, and removing a failed one.

The cell's image service relays both to the master (images/relay.py), which
allows them for a queued snapshot image of an instance of this cell only.
The data is streamed from its file with its length announced, hashed on the
way, and checked against what the image service recorded.
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import IO

import requests

from compute_agent.errors import ImageInvalid, ImageUnavailable
from compute_agent.images import ImageClient

LOG = logging.getLogger(__name__)


class ImageGone(ImageInvalid):
    """The snapshot's image was deleted meanwhile (by its owner, say)."""

    code = 404


class _Hashing:
    """A file read for an upload: SHA-512 of what was read; its length makes requests send Content-Length."""

    def __init__(self, f: IO[bytes], size: int) -> None:
        self.f = f
        self.size = size
        self.digest = hashlib.sha512()

    def __len__(self) -> int:
        return self.size

    def read(self, n: int = -1) -> bytes:
        chunk = self.f.read(n)
        self.digest.update(chunk)
        return chunk


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    return str(body.get("message") if isinstance(body, dict) else body)[:500]


def _refused(image_id: str, response: requests.Response) -> Exception:
    if response.status_code in (404, 410):
        return ImageGone(f"image {image_id} was deleted during the snapshot")
    if response.status_code >= 500:
        return ImageUnavailable(f"image endpoint answered {response.status_code}")
    return ImageInvalid(f"the image service refused the snapshot data: {_message(response)}")


def _send(client: ImageClient, method: str, path: str, file_path: str | None = None,
          ) -> tuple[requests.Response, str | None]:
    """Send once, and once more with a fresh token after a 401; returns (response, SHA-512 sent)."""
    for attempt in (1, 2):
        headers = {"X-Auth-Token": client.tokens.get()}
        try:
            if file_path is None:
                response, sha512 = requests.request(method, client.base_url + path, headers=headers,
                                                    timeout=(5.0, client.timeout)), None
            else:
                size = os.path.getsize(file_path)
                headers |= {"Content-Type": "application/octet-stream",
                            "X-OpenStack-Image-Size": str(size)}
                with open(file_path, "rb") as f:
                    body = _Hashing(f, size)
                    response = requests.request(method, client.base_url + path, data=body,
                                                headers=headers, timeout=(5.0, client.timeout))
                sha512 = body.digest.hexdigest()
        except requests.RequestException as exc:
            raise ImageUnavailable(f"image endpoint unreachable: {type(exc).__name__}") from exc
        if response.status_code == 401 and attempt == 1:
            response.close()
            client.tokens.invalidate()  # expired, or its key rotated away
            continue
        return response, sha512
    raise ImageInvalid("image endpoint refused the service token")


def upload(client: ImageClient, image_id: str, file_path: str) -> None:
    """Upload ``file_path`` as the data of the queued image ``image_id``.

    Returns once the image is active with exactly these bytes. Raises
    ImageGone, ImageUnavailable (worth a retry: the endpoint is down, or the
    image is not active yet as the cell sees it) or ImageInvalid (refused:
    quota, not a snapshot of this cell, or stored data that differs).
    """
    response, sha512 = _send(client, "PUT", f"/v2/images/{image_id}/file", file_path)
    with response:
        code = response.status_code
        if code not in (204, 403, 409):
            raise _refused(image_id, response)
        refusal = _message(response) if code != 204 else ""
    if code != 204:
        # Refused (403: no longer a data-less snapshot; 409: not queued): an earlier attempt of ours
        # may have uploaded it, or may still be uploading. The body was not read whole: hash the file.
        sha512 = _file_sha512(file_path)
    stored = client.metadata(image_id)
    status = stored.get("status")
    if status == "active":
        if stored.get("os_hash_value") != sha512:
            raise ImageInvalid(f"image {image_id} is active with data that is not the snapshot's "
                               f"(SHA-512 differs){f': {refusal}' if refusal else ''}")
    elif status in ("queued", "saving") and code != 403:
        # The upload is still running at the master, or the cell's copy of the image is behind
        # it: never give a snapshot up (and delete its image) on that; the work is retried.
        raise ImageUnavailable(f"image {image_id} is still {status} as the cell's image endpoint sees it")
    else:
        raise ImageInvalid(f"the image service refused the snapshot data of image {image_id} ({status}): "
                           f"{refusal or 'not stored'}")
    LOG.info("uploaded snapshot image %s (%s bytes, sha512 %s...)", image_id, stored.get("size"),
             sha512[:16] if sha512 else "")


def _file_sha512(file_path: str) -> str:
    digest = hashlib.sha512()
    with open(file_path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def delete(client: ImageClient, image_id: str) -> None:
    """Delete the image of a snapshot that failed; raises ImageUnavailable or ImageInvalid if it cannot."""
    response, _ = _send(client, "DELETE", f"/v2/images/{image_id}")
    with response:
        if response.status_code not in (204, 404):
            raise _refused(image_id, response)
