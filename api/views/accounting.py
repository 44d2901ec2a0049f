"""The os-accounting document (our extension): usage of a period by group, with a series per group."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from api.compute.accounting import Group, Query, figures


def _zulu(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def group(query: Query, found: Group) -> dict[str, Any]:
    doc: dict[str, Any] = {"key": found.key, "name": found.name}
    if query.group_by in ("project", "parent"):
        doc["parent_id"] = found.parent_id
    if query.group_by == "parent":
        doc["depth"] = found.depth
    doc["totals"] = figures(found.totals)
    doc["series"] = [{"period_start": _zulu(start), **figures(found.series[start])}
                     for start in sorted(found.series)]
    return doc


def accounting(query: Query, hour_seconds: float, groups: Iterable[Group]) -> dict[str, Any]:
    """Return {"accounting": {...}}; the format is stated in docs/metering.md."""
    return {"accounting": {
        "start": _zulu(query.start), "end": _zulu(query.end), "granularity": query.granularity,
        "group_by": query.group_by, "hour_seconds": hour_seconds,
        "groups": [group(query, g) for g in groups],
    }}
