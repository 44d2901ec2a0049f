"""Errors in the Image v2 wire format: ``{"message", "code", "title"}`` as Glance sends them."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from cells.exception import CloudError

LOG = logging.getLogger(__name__)


class MethodNotAllowed(CloudError):
    code = 405
    title = "Method Not Allowed"


class UnsupportedMediaType(CloudError):
    code = 415
    title = "Unsupported Media Type"


class LengthRequired(CloudError):
    code = 411
    title = "Length Required"


class Gone(CloudError):
    code = 410
    title = "Gone"


def error_body(status: int, message: str) -> dict[str, Any]:
    """Return the JSON body of an error with HTTP ``status`` and a human ``message``."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return {"message": message, "code": f"{status} {phrase}", "title": phrase}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    response = jsonify(error_body(status, message))
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def register(app: Flask) -> None:
    """Make every error leave the app as JSON in the Image v2 format, never as a traceback."""

    @app.errorhandler(CloudError)
    def _cloud_error(exc: CloudError) -> Response:
        if exc.code >= 500:
            LOG.error("request failed: %s", exc.message)
        return error_response(exc.code, exc.message)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        headers = {}
        allowed = getattr(exc, "valid_methods", None)
        if status == 405 and allowed:
            headers["Allow"] = ", ".join(allowed)
        return error_response(status, exc.description or exc.name, headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        LOG.exception("unexpected error")
        return error_response(500, "The server has either erred or is incapable of performing "
                                   "the requested operation.")
