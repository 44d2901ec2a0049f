"""Request input at the edge: the JSON body and its schema, and query parameters.

Every failure is a BadRequest whose message names the offending field, in
the words Nova uses ("Invalid input for field/attribute ..."). Handlers only
ever see clean data.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from typing import Any

import jsonschema
from flask import request

from cells.exception import BadRequest, PayloadTooLarge

# Nova's osapi_max_request_body_size.
MAX_BODY_BYTES = 114688
_JSON_TYPES = ("application/json", "application/vnd.openstack.compute+json")
_SECRET_FIELDS = frozenset({"adminPass", "user_data"})

FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("base64", raises=(binascii.Error, ValueError))
def _is_base64(value: object) -> bool:
    if not isinstance(value, str):
        return True
    base64.b64decode(value, validate=True)
    return True


def json_body() -> Any:
    """Return the request's JSON document; raises BadRequest or PayloadTooLarge."""
    mimetype = request.mimetype
    if mimetype and mimetype not in _JSON_TYPES and not mimetype.endswith("+json"):
        raise BadRequest(f"Unsupported Content-Type {mimetype[:64]}: send application/json.")
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise PayloadTooLarge("Request is too large.")
    raw = request.stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge("Request is too large.")
    if not raw.strip():
        raise BadRequest("Malformed request body: the body is empty.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("Malformed request body: not valid JSON.") from exc


def _describe(error: jsonschema.ValidationError) -> str:
    path = [str(p) for p in error.absolute_path]
    field = "/".join(path) or "(body)"
    value = ""
    secret = any(p in _SECRET_FIELDS for p in path)
    if not secret and not isinstance(error.instance, dict | list):
        text = json.dumps(error.instance)
        value = f" Value: {text[:100]}{'...' if len(text) > 100 else ''}."
    message = error.message
    if secret or len(message) > 300:
        # jsonschema quotes the value in its message; keep secrets and huge values out.
        message = f"failed the '{error.validator}' check"
    return f"Invalid input for field/attribute {field}.{value} {message}"


class Schema:
    """A compiled JSON Schema for one request body."""

    def __init__(self, schema: dict[str, Any]) -> None:
        jsonschema.Draft202012Validator.check_schema(schema)
        self.validator = jsonschema.Draft202012Validator(schema, format_checker=FORMATS)

    def validate(self, document: Any) -> None:
        """Raise BadRequest naming the first offending field, if any."""
        error = jsonschema.exceptions.best_match(self.validator.iter_errors(document))
        if error is not None:
            raise BadRequest(_describe(error))


# --- query parameters ------------------------------------------------------------

def query_int(name: str, minimum: int = 0) -> int | None:
    """Return the integer query parameter ``name`` or None; raises BadRequest if malformed."""
    text = request.args.get(name)
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"Invalid input for query parameter {name}: {text[:32]!r} is not an "
                         "integer.") from None
    if value < minimum:
        raise BadRequest(f"Invalid input for query parameter {name}: must be >= {minimum}.")
    return value


_UNESCAPED_OFFSET = re.compile(r" (\d{2}:?\d{2})$")
_TRUE = frozenset({"1", "t", "true", "on", "y", "yes", ""})
_FALSE = frozenset({"0", "f", "false", "off", "n", "no"})


def query_bool(name: str, default: bool | None = None) -> bool | None:
    """Return a boolean query parameter (true/false/1/0/yes/no; empty means true)."""
    text = request.args.get(name)
    if text is None:
        return default
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise BadRequest(f"Invalid input for query parameter {name}: {text[:32]!r} is not a boolean.")


def query_time(name: str) -> dt.datetime | None:
    """Return an ISO 8601 query parameter as naive UTC, or None; raises BadRequest if malformed."""
    text = request.args.get(name)
    if text is None:
        return None
    try:
        # A '+' of the offset arrives as a space when the client did not escape it.
        fixed = _UNESCAPED_OFFSET.sub(r"+\1", text.strip()).replace("Z", "+00:00")
        parsed = dt.datetime.fromisoformat(fixed)
    except ValueError:
        raise BadRequest(f"Invalid input for query parameter {name}: {text[:40]!r} is not an "
                         "ISO 8601 date-time.") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed
