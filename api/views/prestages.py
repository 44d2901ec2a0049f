"""os-image-prestages documents: a run, with its progress and its failures."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from api.views.links import Links
from cells.db.types import utcnow

COLLECTION = "os-image-prestages"


def _zulu(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _elapsed(row: Mapping[Any, Any]) -> float | None:
    """Seconds the run has taken so far (to its end, once ended); None before it started."""
    started = row["started_at"]
    if started is None:
        return None
    return round(max(0.0, ((row["finished_at"] or utcnow()) - started).total_seconds()), 3)


def detail(row: Mapping[Any, Any], links: Links) -> dict[str, Any]:
    return {
        "id": row["id"],
        "image_id": row["image_id"],
        "image_name": row["image_name"],
        "cell": row["cell_path"],
        "status": row["status"],
        "hosts_total": row["hosts_total"],
        "hosts_done": row["hosts_done"],
        "hosts_failed": row["hosts_failed"],
        "hosts_cached": row["hosts_cached"],
        "from_endpoint": row["from_endpoint"],
        "from_peers": row["from_peers"],
        "depth": row["depth"],
        # None until the cell reports the settings of its configuration, unless the request set them.
        "endpoint_copies": row["endpoint_copies"],
        "peer_copies": row["peer_copies"],
        "failures": dict(row["failures"] or {}),
        "error": row["error"],
        "user_id": row["user_id"],
        "project_id": row["project_id"],
        "created_at": _zulu(row["created_at"]),
        "updated_at": _zulu(row["updated_at"]),
        "started_at": _zulu(row["started_at"]),
        "finished_at": _zulu(row["finished_at"]),
        "elapsed": _elapsed(row),
        "links": links.resource(COLLECTION, row["id"]),
    }
