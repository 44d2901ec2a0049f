"""Request bodies of os-image-prestages (our extension)."""

from __future__ import annotations

from typing import Any

from scheduler.rpcapi import PRESTAGE_OVERRIDES

CREATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "prestage": {
            "type": "object",
            "properties": {
                # Image ids are UUIDs; anything else would change the image service URL we build.
                "image_id": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,64}$"},
                # A compute cell's path, e.g. top!cell1.
                "cell": {"type": "string", "minLength": 1, "maxLength": 255,
                         "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]*(![A-Za-z0-9][A-Za-z0-9_.-]*)*$"},
                # Optional, for this run only: endpoint_copies, peer_copies (0: no tree).
                **{key: {"type": "integer", "minimum": low, "maximum": high}
                   for key, (low, high) in PRESTAGE_OVERRIDES.items()},
            },
            "required": ["image_id", "cell"],
            "additionalProperties": False,
        },
    },
    "required": ["prestage"],
    "additionalProperties": False,
}
