"""Compute API microversions: which one a request asks for, and the headers every answer carries.

We serve exactly 2.1 (the base of Compute v2.1). A client may ask for it
with ``OpenStack-API-Version: compute 2.1`` or the older
``X-OpenStack-Nova-API-Version: 2.1``, or for ``latest``; anything else is
refused the way Nova refuses a version it does not know.
"""

from __future__ import annotations

import re
from typing import Protocol

from cells.exception import BadRequest, CloudError

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 1)
SERVICE_TYPE = "compute"
_VERSION_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")

RESPONSE_HEADERS: tuple[tuple[str, str], ...] = (
    ("OpenStack-API-Version", f"{SERVICE_TYPE} {MAX_VERSION[0]}.{MAX_VERSION[1]}"),
    ("X-OpenStack-Nova-API-Version", f"{MAX_VERSION[0]}.{MAX_VERSION[1]}"),
    ("Vary", "OpenStack-API-Version, X-OpenStack-Nova-API-Version"),
)


class _Headers(Protocol):
    def get(self, key: str) -> str | None: ...


class VersionNotAcceptable(CloudError):
    code = 406
    title = "Not Acceptable"


def as_string(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


def _requested(headers: _Headers) -> str | None:
    value = headers.get("OpenStack-API-Version")
    if value:
        # "compute 2.1, image 2.5": pick our service's entry, ignore the others.
        for item in value.split(","):
            service, _, version = item.strip().partition(" ")
            if service.lower() == SERVICE_TYPE:
                return version.strip()
    legacy = headers.get("X-OpenStack-Nova-API-Version")
    return legacy.strip() if legacy else None


def negotiate(headers: _Headers) -> tuple[int, int]:
    """Return the microversion to serve.

    Raises BadRequest for a malformed version string and VersionNotAcceptable
    (406) for a well-formed one outside [MIN_VERSION, MAX_VERSION].
    """
    text = _requested(headers)
    if text is None or text.lower() == "latest":
        return MAX_VERSION
    match = _VERSION_RE.match(text)
    if not match:
        raise BadRequest(f"API Version String {text[:32]} is of invalid format. "
                         "Must be of format MajorNum.MinorNum.")
    version = (int(match.group(1)), int(match.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise VersionNotAcceptable(f"Version {as_string(version)} is not supported by the API. "
                                   f"Minimum is {as_string(MIN_VERSION)} and maximum is "
                                   f"{as_string(MAX_VERSION)}.")
    return version
