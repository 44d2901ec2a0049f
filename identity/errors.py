"""Errors leave the identity API in the Keystone format: ``{"error": {code, title, message}}``."""

from __future__ import annotations

import logging

import flask
from werkzeug.exceptions import HTTPException

from cells.exception import CloudError

LOG = logging.getLogger(__name__)


def error_response(code: int, title: str, message: str) -> flask.Response:
    """Return a JSON error response; a 401 also carries the Keystone challenge."""
    response = flask.jsonify({"error": {"code": code, "title": title, "message": message}})
    response.status_code = code
    if code == 401:
        response.headers["WWW-Authenticate"] = f'Keystone uri="{flask.request.url_root.rstrip("/")}"'
    return response


def _cloud_error(exc: CloudError) -> flask.Response:
    if exc.code >= 500:
        LOG.error("%s: %s", exc.title, exc.message)
    return error_response(exc.code, exc.title, exc.message)


def _http_error(exc: HTTPException) -> flask.Response:
    code = exc.code or 500
    return error_response(code, exc.name, exc.description or exc.name)


def _unexpected(exc: Exception) -> flask.Response:
    # The traceback goes to the log (redacted there); the client gets no internals.
    LOG.exception("unexpected error serving %s %s", flask.request.method, flask.request.path)
    return error_response(500, "Internal Server Error", "An unexpected error prevented the request.")


def register(app: flask.Flask) -> None:
    """Install the Keystone-format error handlers on ``app``."""
    app.register_error_handler(CloudError, _cloud_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
