"""Parameter types shared by the request schemas (Nova's ``parameter_types``)."""

from __future__ import annotations

from typing import Any

# 1-255 characters, no leading or trailing whitespace.
NAME: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 255,
                        "pattern": r"^(?!\s)[\s\S]*(?<!\s)$"}

# Nova takes counts and sizes as integers or strings of digits.
def positive_int(maximum: int = 2**31 - 1) -> dict[str, Any]:
    return {"type": ["integer", "string"], "pattern": r"^[0-9]+$", "minimum": 1, "maximum": maximum,
            "minLength": 1, "maxLength": 10}


def non_negative_int(maximum: int = 2**31 - 1) -> dict[str, Any]:
    return {"type": ["integer", "string"], "pattern": r"^[0-9]+$", "minimum": 0, "maximum": maximum,
            "minLength": 1, "maxLength": 10}


METADATA: dict[str, Any] = {
    "type": "object",
    "patternProperties": {r"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string", "maxLength": 255}},
    "additionalProperties": False,
    "maxProperties": 128,
}
