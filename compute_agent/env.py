"""HostEnv: what every operation on one host's instances works with."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from cells.config import CellConfig
from cells.db.engine import Database
from cells.db.types import utcnow
from compute_agent import instances
from compute_agent.capacity import Capacity
from compute_agent.images import ImageCache
from compute_agent.paths import HostPaths
from compute_agent.updates import UpdateSender
from compute_agent.virt.driver import ComputeDriver
from compute_agent.workqueue import WorkQueue

# How long after we stop a guest its "stopped" event is taken as our own doing.
_EXPECTED_WINDOW = 30.0


@dataclass
class HostEnv:
    conf: CellConfig
    db: Database
    host: str
    paths: HostPaths
    driver: ComputeDriver
    images: ImageCache
    capacity: Capacity
    sender: UpdateSender
    queue: WorkQueue
    # Where this host serves its cached images to other hosts (None: it does not).
    peer_url: str | None = None
    shutdown_timeout: float = 30.0
    _expected: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, row: dict[str, Any]) -> None:
        """Send an instance's full state up to the API cell's index."""
        self.sender.send(instances.to_update(row, self.conf.path))

    def deadline(self) -> dt.datetime:
        """Return when a task started now must have finished."""
        return utcnow() + dt.timedelta(seconds=self.conf.transition_timeout)

    def expect_stop(self, uuid: str) -> None:
        """Note that we are about to stop a guest, so its lifecycle event is not news."""
        with self._lock:
            self._expected[uuid] = time.monotonic() + _EXPECTED_WINDOW

    def stop_expected(self, uuid: str) -> bool:
        """True if a stop of ``uuid`` was our own doing, recently."""
        now = time.monotonic()
        with self._lock:
            for key in [k for k, until in self._expected.items() if until < now]:
                del self._expected[key]
            return uuid in self._expected
