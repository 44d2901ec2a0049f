"""Request helpers shared by the handlers."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from cells.exception import BadRequest, PayloadTooLarge

MAX_JSON_BYTES = 1024 * 1024


def json_body() -> Any:
    """Return the request's JSON body; raises BadRequest if it is not JSON, PayloadTooLarge if huge."""
    if (request.content_length or 0) > MAX_JSON_BYTES:
        raise PayloadTooLarge(f"The request body is larger than {MAX_JSON_BYTES} bytes.")
    raw = request.get_data(cache=False)
    if not raw:
        raise BadRequest("The request body is empty: a JSON document is expected.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest("Malformed JSON in request body.") from exc
