"""Recomputes the marked (instance, bucket) rollups in bulk from the stored raw samples.

A rollup is never incremented: each pass recomputes whole rows from the raw
samples of their window (one query per few hundred instances) and writes
only the rows that changed, so replays, late samples and restarts give the
same rows.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from metering.collector import rollup
from metering.collector.dirty import DirtySet
from metering.collector.rollup import InstanceInfo, Settings
from metering.collector.store import SampleStore

LOG = logging.getLogger(__name__)
CHUNK = 200  # instances per sample query


@dataclass
class RollResult:
    pairs: int = 0  # (instance, bucket) pairs recomputed
    changed: int = 0  # rows written with a new revision
    frozen: int = 0  # pairs left alone: their raw samples are partly past the retention
    incomplete: int = 0  # pairs computed without some metadata (recomputed when it arrives)


class Roller:
    """Drains the dirty set into rollup rows; remembers pairs rolled without full metadata."""

    def __init__(self, store: SampleStore, dirty: DirtySet, settings: Settings, retention: float,
                 instance: Callable[[str], InstanceInfo | None],
                 hosts: Callable[[], dict[str, float]],
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.dirty = dirty
        self.settings = settings
        self.retention_us = round(retention * rollup.US)
        self._instance = instance
        self._hosts = hosts
        self._clock = clock
        self._lock = threading.Lock()  # one pass at a time
        self._incomplete: dict[str, set[int]] = {}
        self._incomplete_lock = threading.Lock()

    def recover(self) -> int:
        """Mark the recent buckets of every instance with recent samples (after a restart).

        Pairs marked before a kill are lost with the process; the samples behind
        them arrived within a poll interval or two of now.
        """
        hour = self.settings.hour_us
        now = round(self._clock() * rollup.US)
        since = now - 2 * self.settings.default_interval_us - hour
        ids = self.store.recent_instances(since)
        for instance_id in ids:
            self.dirty.mark(instance_id, since // hour, now // hour)
        return len(ids)

    def metadata_changed(self, instance_ids: set[str], hosts_changed: bool) -> None:
        """Re-mark the pairs rolled without metadata that has now arrived."""
        with self._incomplete_lock:
            ids = list(self._incomplete) if hosts_changed else [i for i in instance_ids
                                                                 if i in self._incomplete]
            again = {i: self._incomplete.pop(i) for i in ids}
        self.dirty.mark_many(again)

    def roll(self) -> RollResult:
        """Recompute every marked pair; on a database error the pairs stay marked and it re-raises."""
        with self._lock:
            return self._roll()

    def _roll(self) -> RollResult:
        result = RollResult()
        pairs = self.dirty.take()
        if not pairs:
            return result
        hour = self.settings.hour_us
        horizon = round(self._clock() * rollup.US) - self.retention_us + self.settings.reach_before_us()
        ids = sorted(pairs)
        for start in range(0, len(ids), CHUNK):
            chunk = {i: {k for k in pairs[i] if k * hour >= horizon} for i in ids[start:start + CHUNK]}
            result.frozen += sum(len(pairs[i]) - len(chunk[i]) for i in chunk)
            chunk = {i: ks for i, ks in chunk.items() if ks}
            if not chunk:
                continue
            try:
                self._roll_chunk(chunk, result)
            except Exception:
                # Put back this chunk and the ones not reached; the next pass retries them.
                self.dirty.mark_many({i: pairs[i] for i in ids[start:]})
                raise
        if result.frozen:
            LOG.info("left %d rollups alone: their samples reach past the raw retention", result.frozen)
        return result

    def _roll_chunk(self, chunk: dict[str, set[int]], result: RollResult) -> None:
        hour = self.settings.hour_us
        lo = min(min(ks) for ks in chunk.values()) * hour - self.settings.reach_before_us()
        hi = (max(max(ks) for ks in chunk.values()) + 1) * hour + self.settings.reach_after_us()
        points = self.store.window(sorted(chunk), lo, hi)
        hs06 = self._hosts()
        rows: dict[tuple[str, dt.datetime], dict[str, Any]] = {}
        # Buckets without usage now: written (as zeros) only over a row stored earlier.
        emptied: dict[tuple[str, dt.datetime], dict[str, Any]] = {}
        incomplete: dict[str, set[int]] = {}
        for instance_id, buckets in chunk.items():
            info = self._instance(instance_id)
            computed = rollup.compute(points.get(instance_id, []), info, hs06, self.settings)
            for k in buckets:
                row = computed.get(k)
                if row is None:
                    emptied[(instance_id, rollup.bucket_start(k, hour))] = rollup.empty(
                        k, info, self.settings).values
                    continue
                result.pairs += 1
                rows[(instance_id, rollup.bucket_start(k, hour))] = row.values
                if info is None or row.missing_hosts:
                    incomplete.setdefault(instance_id, set()).add(k)
        result.changed += self.store.write_rollups(rows, emptied)
        if incomplete:
            result.incomplete += sum(len(ks) for ks in incomplete.values())
            with self._incomplete_lock:
                for instance_id, ks in incomplete.items():
                    self._incomplete.setdefault(instance_id, set()).update(ks)
