"""JSON Schemas of the identity API's request bodies, and the validation that applies them."""

from __future__ import annotations

from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from cells.exception import BadRequest

_VALIDATORS: dict[int, tuple[dict[str, Any], jsonschema.Draft202012Validator]] = {}


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    # Schemas are module constants: build each validator once (the schema is kept alive with it).
    entry = _VALIDATORS.get(id(schema))
    if entry is None or entry[0] is not schema:
        entry = (schema, jsonschema.Draft202012Validator(schema))
        _VALIDATORS[id(schema)] = entry
    return entry[1]


def validate(schema: dict[str, Any], body: Any) -> None:
    """Raise BadRequest naming the first offending field; the offending value is never echoed."""
    validator = _validator(schema)
    if validator.is_valid(body):
        return
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
