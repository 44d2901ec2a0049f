"""Errors in the Compute API wire format: ``{"itemNotFound": {"code": 404, "message": "..."}}``.

Handlers raise the domain errors of ``cells.exception``; this module turns
them, werkzeug's routing errors and anything unexpected into Nova's fault
bodies, so a client never sees an HTML page or a traceback.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from cells.exception import CloudError

LOG = logging.getLogger(__name__)

# Nova's fault names by status; anything else is a computeFault.
FAULT_NAMES: dict[int, str] = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}

_ROUTING_MESSAGES: dict[int, str] = {
    404: "The resource could not be found.",
    405: "The method specified is not allowed for this resource.",
    413: "Request is too large.",
}


def fault_body(code: int, message: str) -> dict[str, Any]:
    """Return Nova's error document for ``code``; also the AuthMiddleware's ``error_body``."""
    return {FAULT_NAMES.get(code, "computeFault"): {"code": code, "message": message}}


def error_response(code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """Return a JSON fault response."""
    response = Response(json.dumps(fault_body(code, message)), status=code,
                        mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _cloud_error(exc: CloudError) -> Response:
    if exc.code >= 500:
        LOG.warning("%s: %s", type(exc).__name__, exc.message)
    return error_response(exc.code, exc.message)


def _http_error(exc: HTTPException) -> Response:
    code = exc.code or 500
    headers = {}
    if code == 405:
        allowed = getattr(exc, "valid_methods", None)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
    message = _ROUTING_MESSAGES.get(code) or exc.description or exc.name
    return error_response(code, message, headers)


def _db_error(exc: DBAPIError) -> Response:
    # The database gave up after its retries (lost connection, lock waits): the
    # client may retry later; nothing about its request was wrong.
    LOG.error("database error: %s", type(exc.orig).__name__ if exc.orig else type(exc).__name__)
    return error_response(503, "The database is unavailable; please retry the request.")


def _unexpected(exc: Exception) -> Response:
    LOG.exception("unexpected error serving the request")
    return error_response(500, "Unexpected API Error. Please report this at the operator's "
                               f"bug tracker and attach the request id. {type(exc).__name__}")


def register(app: Flask) -> None:
    """Install the handlers that turn every error into a Compute fault body."""
    app.register_error_handler(CloudError, _cloud_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DBAPIError, _db_error)
    app.register_error_handler(Exception, _unexpected)
