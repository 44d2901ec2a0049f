"""Errors of the compute agent and the one rule deciding which are worth a retry."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from cells.db.engine import is_retryable
from cells.exception import CloudError, ConfigError, Conflict, ServiceUnavailable


class TransientError(CloudError):
    """Something we depend on is briefly unavailable; the same work may succeed later."""

    transient = True


class ImageUnavailable(TransientError):
    """The image endpoint could not be reached or answered with a server error."""


class ImageInvalid(CloudError):
    """The image is missing, unusable, or its data does not match its checksum."""

    code = 400


class InsufficientCapacity(Conflict):
    """The host cannot fit the instance within its limits."""


class DuplicateHost(ConfigError):
    """Another live agent already serves this host name."""


def is_transient(exc: BaseException) -> bool:
    """True if ``exc`` is worth retrying: a transient error or a retryable database error."""
    if getattr(exc, "transient", False) or isinstance(exc, ServiceUnavailable):
        return True  # ServiceUnavailable: the identity service could not be reached for a token
    return isinstance(exc, DBAPIError) and is_retryable(exc)
