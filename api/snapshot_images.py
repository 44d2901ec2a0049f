"""Snapshot images in the image service, created (and removed again) with the caller's own token.

The image service then applies the caller's rights and its project's image
count quota exactly as to an image the user creates itself; the Compute API
adds no privilege of its own. Its answers are turned into Compute API errors
that say what the image service said.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import requests

from cells.exception import BadRequest, CloudError, Conflict, Forbidden, QuotaExceeded, ServiceUnavailable

LOG = logging.getLogger(__name__)


class SnapshotImages(Protocol):
    """What the createImage action needs of the image service."""

    def create(self, document: dict[str, Any], token: str) -> dict[str, Any]: ...

    def delete(self, image_id: str, token: str) -> None: ...

    def location(self, image_id: str) -> str: ...


def _message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    message = body.get("message") if isinstance(body, dict) else None
    return str(message)[:512] if message else f"HTTP {response.status_code}"


def _error(response: requests.Response) -> CloudError:
    """The Compute API error for an image service refusal."""
    message = f"The image service refused the snapshot image: {_message(response)}"
    if response.status_code == 413:  # the project's image count quota
        return QuotaExceeded(message)
    if response.status_code == 400:
        return BadRequest(message)
    if response.status_code == 403:
        return Forbidden(message)
    if response.status_code == 409:
        return Conflict(message)
    return ServiceUnavailable(f"The image service answered {response.status_code}.")


class HttpSnapshotImages:
    """Image v2 ``POST /v2/images`` and ``DELETE /v2/images/{id}`` at ``images_url``."""

    def __init__(self, images_url: str, timeout: float = 30.0) -> None:
        self.images_url = images_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def location(self, image_id: str) -> str:
        """Return the URL of an image, as the Location of a createImage answer."""
        return f"{self.images_url}/v2/images/{image_id}"

    def create(self, document: dict[str, Any], token: str) -> dict[str, Any]:
        """Create a queued image from ``document``; returns the image.

        Raises QuotaExceeded, BadRequest, Forbidden or Conflict as the image
        service refuses, ServiceUnavailable if it cannot be asked.
        """
        try:
            response = self.session.post(f"{self.images_url}/v2/images", json=document,
                                         headers={"X-Auth-Token": token, "Accept": "application/json"},
                                         timeout=self.timeout)
        except requests.RequestException as exc:
            raise ServiceUnavailable(f"The image service is unavailable ({type(exc).__name__}).") from exc
        if response.status_code != 201:
            raise _error(response)
        try:
            image = response.json()
        except ValueError as exc:
            raise ServiceUnavailable("The image service sent a malformed answer.") from exc
        if not isinstance(image, dict) or not isinstance(image.get("id"), str):
            raise ServiceUnavailable("The image service sent a malformed answer.")
        return image

    def delete(self, image_id: str, token: str) -> None:
        """Delete an image this request created; a failure is logged (its owner may delete it)."""
        try:
            response = self.session.delete(f"{self.images_url}/v2/images/{image_id}",
                                           headers={"X-Auth-Token": token}, timeout=self.timeout)
        except requests.RequestException as exc:
            LOG.warning("cannot delete snapshot image %s: %s", image_id, type(exc).__name__)
            return
        if response.status_code not in (204, 404):
            LOG.warning("cannot delete snapshot image %s: HTTP %d", image_id, response.status_code)
