"""Bodies of POST /servers/{id}/action: one schema per action, for the whole body."""

from __future__ import annotations

from typing import Any

from api.schemas.common import METADATA, NAME


def _action(name: str, argument: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": [name], "additionalProperties": False,
            "properties": {name: argument}}


STOP = _action("os-stop", {"type": "null"})
START = _action("os-start", {"type": "null"})
REBOOT = _action("reboot", {
    "type": "object",
    "required": ["type"],
    "additionalProperties": False,
    "properties": {"type": {"enum": ["HARD", "Hard", "hard", "SOFT", "Soft", "soft"]}},
})
CREATE_IMAGE = _action("createImage", {
    "type": "object",
    "required": ["name"],
    "additionalProperties": False,
    "properties": {"name": NAME, "metadata": METADATA},
})
