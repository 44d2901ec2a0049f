"""The (instance, bucket) pairs whose rollups must be recomputed: filled by ingest, drained by the roller."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping


class DirtySet:
    """Thread-safe {instance: {bucket, ...}}; lost on a kill (the start-up recovery covers that)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pairs: dict[str, set[int]] = {}

    def mark(self, instance_id: str, first: int, last: int) -> None:
        """Mark buckets ``first`` to ``last`` (inclusive) of one instance."""
        with self._lock:
            self._pairs.setdefault(instance_id, set()).update(range(first, last + 1))

    def mark_many(self, pairs: Mapping[str, Iterable[int]]) -> None:
        with self._lock:
            for instance_id, buckets in pairs.items():
                self._pairs.setdefault(instance_id, set()).update(buckets)

    def take(self) -> dict[str, set[int]]:
        """Return every marked pair and forget them."""
        with self._lock:
            pairs, self._pairs = self._pairs, {}
        return pairs

    def __len__(self) -> int:
        with self._lock:
            return sum(len(b) for b in self._pairs.values())
