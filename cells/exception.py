"""Domain errors shared by every service.

Each carries the HTTP status an API maps it to, so handlers raise domain
errors and the edge turns them into the wire format of the API served.
"""

from __future__ import annotations


class CloudError(Exception):
    """Base of the errors we raise on purpose; ``code`` is the HTTP status."""

    code = 500
    title = "Internal Server Error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.title)
        self.message = message or self.title


class ConfigError(CloudError):
    title = "Configuration error"


class BadRequest(CloudError):
    code = 400
    title = "Bad Request"


class Unauthorized(CloudError):
    code = 401
    title = "Unauthorized"


class Forbidden(CloudError):
    code = 403
    title = "Forbidden"


class NotFound(CloudError):
    code = 404
    title = "Not Found"


class Conflict(CloudError):
    code = 409
    title = "Conflict"


class InvalidState(Conflict):
    """An action is not allowed in the instance's current state."""


class PayloadTooLarge(CloudError):
    code = 413
    title = "Request Entity Too Large"


class QuotaExceeded(CloudError):
    code = 403
    title = "Quota exceeded"


class NoValidHost(CloudError):
    title = "No valid host was found"


class ServiceUnavailable(CloudError):
    code = 503
    title = "Service Unavailable"
