"""Body of POST /flavors (Compute 2.1)."""

from __future__ import annotations

from typing import Any

from api.schemas.common import NAME, non_negative_int, positive_int

CREATE: dict[str, Any] = {
    "type": "object",
    "required": ["flavor"],
    "additionalProperties": False,
    "properties": {
        "flavor": {
            "type": "object",
            "required": ["name", "ram", "vcpus", "disk"],
            "additionalProperties": False,
            "properties": {
                "name": NAME,
                # null or "auto" asks for a generated id.
                "id": {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
                       "pattern": r"^(?! )[a-zA-Z0-9. _-]+(?<! )$"},
                "ram": positive_int(),
                "vcpus": positive_int(),
                "disk": non_negative_int(),
                "OS-FLV-EXT-DATA:ephemeral": non_negative_int(),
                "swap": non_negative_int(),
                "rxtx_factor": {"type": ["number", "string"], "pattern": r"^[0-9]+(\.[0-9]+)?$",
                                "exclusiveMinimum": 0, "maximum": 3.40282e38},
                "os-flavor-access:is_public": {"type": ["boolean", "string"],
                                               "enum": [True, False, "true", "false", "True",
                                                        "False", "1", "0"]},
            },
        },
    },
}
