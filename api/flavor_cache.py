"""Flavors kept in memory: they rarely change, and a boot must not pay a SELECT for one.

The whole table is loaded at once and kept for ``ttl`` seconds. This
process's own writes invalidate it at once; another API process's writes
show within ``ttl``, or sooner when someone asks for a flavor we do not know
(at most one reload per ``miss_gap`` seconds, so bad ids cannot flood the
database).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from api.store import flavors as flavor_store
from cells.db.engine import Database


class FlavorCache:
    """Every flavor by its API id, reloaded from the database when stale."""

    def __init__(self, db: Database, ttl: float = 10.0, miss_gap: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.ttl = ttl
        self.miss_gap = miss_gap
        self.clock = clock
        self._lock = threading.Lock()
        self._by_id: dict[str, dict[str, Any]] = {}
        self._sorted: list[dict[str, Any]] = []
        self._loaded_at = float("-inf")

    def _reload(self, older_than: float) -> None:
        with self._lock:
            # Another thread may have reloaded while this one waited for the lock.
            if self.clock() - self._loaded_at < older_than:
                return
            rows = flavor_store.load_all(self.db)
            self._sorted = sorted(rows, key=lambda r: r["flavorid"])
            self._by_id = {r["flavorid"]: r for r in rows}
            self._loaded_at = self.clock()

    def all(self) -> list[dict[str, Any]]:
        """Return every flavor, sorted by API id. Callers must not mutate the dicts."""
        if self.clock() - self._loaded_at >= self.ttl:
            self._reload(self.ttl)
        return self._sorted

    def get(self, flavorid: str) -> dict[str, Any] | None:
        """Return the flavor with this API id, or None."""
        if self.clock() - self._loaded_at >= self.ttl:
            self._reload(self.ttl)
        flavor = self._by_id.get(flavorid)
        if flavor is None and self.clock() - self._loaded_at >= self.miss_gap:
            self._reload(self.miss_gap)
            flavor = self._by_id.get(flavorid)
        return flavor

    def invalidate(self) -> None:
        """Forget everything; the next read reloads."""
        with self._lock:
            self._loaded_at = float("-inf")
