"""A notification listener for tests: records what arrives on the metering topic."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from cells import rpc
from metering.pollsters.notifier import TOPIC


class Sink:
    """A notification endpoint recording every metering notification."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, dict[str, Any]]] = []
        self._cond = threading.Condition()

    def info(self, ctxt: Any, publisher_id: str, event_type: str, payload: dict[str, Any],
             metadata: Any) -> None:
        with self._cond:
            self.received.append((publisher_id, event_type, payload))
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[str, str, dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.received)} of {count} notifications arrived"
                self._cond.wait(left)
            return list(self.received)

    @classmethod
    @contextlib.contextmanager
    def listening(cls, broker_url: str) -> Iterator[Sink]:
        """Yield a Sink listening on the metering topic of ``broker_url``."""
        found = cls()
        listener = rpc.get_notification_listener(broker_url, TOPIC, [found])
        listener.start()
        try:
            yield found
        finally:
            listener.stop()
            listener.wait()
