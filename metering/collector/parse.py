"""Samples off the wire into rows for the store (pure): checked, normalised, or counted as bad.

The agents' format is in docs/metering.md ("Samples"). A sample missing a key
or carrying a value of the wrong type is skipped and counted; it never stops
the others of its batch.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_ONE_US = dt.timedelta(microseconds=1)

# (resource_id, name, timestamp_us, instance_id, volume, unit, type, host, project_id, user_id,
#  metadata JSON or None): the column order of store.SAMPLE_COLUMNS.
SampleRow = tuple[str, str, int, str, float, str, str, str | None, str | None, str | None, str | None]

_LIMITS = {"resource_id": 128, "name": 64, "instance_id": 36, "unit": 16, "type": 16, "host": 255,
           "project_id": 64, "user_id": 64}


class BadSample(ValueError):
    """A sample that cannot be stored; the message says which key."""


@dataclass
class Parsed:
    rows: list[SampleRow] = field(default_factory=list)
    bad: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


def to_us(stamp: str) -> int:
    """ISO-8601 time (naive means UTC) as integer microseconds since the epoch; raises ValueError."""
    parsed = dt.datetime.fromisoformat(stamp)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return (parsed - _EPOCH) // _ONE_US


def _text(sample: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = sample.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > _LIMITS[key]:
        raise BadSample(key)
    return value


def row(sample: Any, times: dict[str, int] | None = None) -> SampleRow:
    """Return the store row of one wire sample; raises BadSample naming the offending key.

    ``times``: parsed timestamps to reuse (a guest's samples of one poll share theirs).
    """
    if not isinstance(sample, dict):
        raise BadSample("sample")
    stamp = sample.get("timestamp")
    if not isinstance(stamp, str):
        raise BadSample("timestamp")
    t = times.get(stamp) if times is not None else None
    if t is None:
        try:
            t = to_us(stamp)
        except (ValueError, OverflowError) as exc:
            raise BadSample("timestamp") from exc
        if times is not None:
            times[stamp] = t
    volume = sample.get("volume")
    if isinstance(volume, bool) or not isinstance(volume, int | float) or not math.isfinite(volume):
        raise BadSample("volume")
    metadata = sample.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadSample("metadata")
    return (_text(sample, "resource_id") or "", _text(sample, "name") or "", t,
            _text(sample, "instance_id") or "", float(volume),
            _text(sample, "unit", False) or "", _text(sample, "type", False) or "",
            _text(sample, "host", False), _text(sample, "project_id", False),
            _text(sample, "user_id", False),
            json.dumps(metadata, separators=(",", ":")) if metadata else None)


def rows(samples: Iterable[Any], into: Parsed | None = None) -> Parsed:
    """Parse ``samples``, appending to ``into``; bad ones are counted by the key at fault."""
    out = into or Parsed()
    times: dict[str, int] = {}
    for sample in samples:
        try:
            out.rows.append(row(sample, times))
        except BadSample as exc:
            out.bad += 1
            out.reasons[str(exc)] = out.reasons.get(str(exc), 0) + 1
    return out


def interval_us(metadata: str | None) -> int | None:
    """The poll interval (µs) a stored sample's metadata carries, if any."""
    if not metadata:
        return None
    try:
        value = json.loads(metadata).get("interval")
    except (ValueError, AttributeError):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return round(value * 1_000_000) if value > 0 else None
