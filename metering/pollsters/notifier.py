"""Sends samples as batched notifications on the cell's own broker (topic ``metering``)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from cells import rpc

LOG = logging.getLogger(__name__)

TOPIC = "metering"
EVENT_TYPE = "metering.samples"
# Reconnection attempts per batch when the broker is down: a lost batch is a gap in the
# samples, a blocked poller would be a gap in every later one.
RETRY = 3


class SampleNotifier:
    """Publishes samples in batches of at most ``batch_size`` per notification."""

    def __init__(self, broker_url: str, publisher_id: str, batch_size: int = 500) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = batch_size
        self._notifier = rpc.get_notifier(broker_url, publisher_id, TOPIC, retry=RETRY)

    def send(self, samples: Sequence[dict[str, Any]]) -> int:
        """Publish ``samples``; returns how many notifications were sent."""
        batches = 0
        for start in range(0, len(samples), self.batch_size):
            batch = list(samples[start:start + self.batch_size])
            self._notifier.info({}, EVENT_TYPE, {"samples": batch})
            batches += 1
        if batches:
            LOG.debug("sent %d samples in %d notifications", len(samples), batches)
        return batches
