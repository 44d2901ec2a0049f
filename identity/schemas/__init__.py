"""JSON Schemas of the identity API's request bodies, and the validation that applies them."""

from __future__ import annotations

from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from cells.exception import BadRequest


def validate(schema: dict[str, Any], body: Any) -> None:
    """Raise BadRequest naming the first offending field; the offending value is never echoed."""
    validator = jsonschema.Draft202012Validator(schema)
    error = best_match(validator.iter_errors(body))
    if error is None:
        return
    field = ".".join(str(p) for p in error.absolute_path) or "(body)"
    if error.validator == "required":
        reason = error.message  # "'name' is a required property": names a key, never a value
    elif error.validator == "type":
        reason = f"expected {error.validator_value}"
    elif error.validator in ("anyOf", "oneOf"):
        reason = "expected an id or a name"
    elif error.validator == "additionalProperties":
        reason = "unexpected property"
    else:
        reason = f"failed the '{error.validator}' check"
    raise BadRequest(f"Invalid input for field '{field}': {reason}.")
