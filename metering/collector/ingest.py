"""A batch of notifications into stored samples and marked rollup buckets.

Little work per sample: parse and check it, then one bulk insert per batch;
the buckets to recompute are marked per instance, from the earliest to the
latest sample of the batch, not per sample.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from metering.collector import parse, rollup
from metering.collector.dirty import DirtySet
from metering.collector.rollup import Settings
from metering.collector.store import SampleStore

LOG = logging.getLogger(__name__)
EVENT_TYPE = "metering.samples"


@dataclass
class IngestResult:
    stored: int = 0  # rows handed to the store (duplicates among them are ignored there)
    bad: int = 0
    too_old: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)  # instances the metadata cache lacks


@dataclass
class Counters:
    """Totals since start, for logs and tests."""

    batches: int = 0
    stored: int = 0
    bad: int = 0
    too_old: int = 0


class Ingestor:
    """Stores samples and marks the (instance, bucket) pairs they touch."""

    def __init__(self, store: SampleStore, dirty: DirtySet, settings: Settings, retention: float,
                 known: Callable[[str], bool] = lambda _i: True,
                 on_unknown: Callable[[set[str]], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.dirty = dirty
        self.settings = settings
        self.retention_us = round(retention * rollup.US)
        self._known = known
        self._on_unknown = on_unknown
        self._clock = clock
        self.counters = Counters()

    def ingest(self, samples: Iterable[Any]) -> IngestResult:
        """Store ``samples`` (wire dicts); raises the database's error if they could not be stored."""
        parsed = parse.rows(samples)
        result = IngestResult(bad=parsed.bad, reasons=parsed.reasons)
        cutoff = round(self._clock() * rollup.US) - self.retention_us
        rows = [r for r in parsed.rows if r[2] >= cutoff]
        result.too_old = len(parsed.rows) - len(rows)
        self.store.insert(rows)
        result.stored = len(rows)
        self._mark(rows, result)
        self.counters.batches += 1
        self.counters.stored += result.stored
        self.counters.bad += result.bad
        self.counters.too_old += result.too_old
        if result.bad:
            LOG.warning("skipped %d bad samples (%s)", result.bad,
                        ", ".join(f"{k}: {n}" for k, n in sorted(result.reasons.items())))
        if result.too_old:
            LOG.warning("dropped %d samples older than the raw retention (%.0f s)", result.too_old,
                        self.retention_us / rollup.US)
        if result.unknown and self._on_unknown:
            self._on_unknown(result.unknown)
        return result

    def ingest_notifications(self, messages: Iterable[dict[str, Any]]) -> IngestResult:
        """Ingest the samples of a batch of notifications (the listener's messages)."""
        samples: list[Any] = []
        bad_payloads = 0
        for message in messages:
            if message.get("event_type") != EVENT_TYPE:
                continue
            payload = message.get("payload")
            found = payload.get("samples") if isinstance(payload, dict) else None
            if not isinstance(found, list):
                bad_payloads += 1
                continue
            samples.extend(found)
        result = self.ingest(samples)
        if bad_payloads:
            LOG.warning("skipped %d notifications without a list of samples", bad_payloads)
            result.bad += bad_payloads
            result.reasons["payload"] = bad_payloads
            self.counters.bad += bad_payloads
        return result

    def _mark(self, rows: list[parse.SampleRow], result: IngestResult) -> None:
        # A sample changes its own cover (up to 1.1 intervals before it) and, through the
        # predecessor rule, the samples up to two intervals after it.
        span: dict[str, tuple[int, int]] = {}
        for r in rows:
            if r[1] not in rollup.ROLLED:
                continue
            t, instance_id = r[2], r[3]
            seen = span.get(instance_id)
            span[instance_id] = (t, t) if seen is None else (min(seen[0], t), max(seen[1], t))
        hour = self.settings.hour_us
        back, ahead = self.settings.reach_after_us(), self.settings.reach_before_us()
        for instance_id, (lo, hi) in span.items():
            self.dirty.mark(instance_id, (lo - back) // hour, (hi + ahead - 1) // hour)
            if not self._known(instance_id):
                result.unknown.add(instance_id)
