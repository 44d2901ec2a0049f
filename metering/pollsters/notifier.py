"""Sends samples as batched notifications on the cell's own broker (topic ``metering``).

Batches that cannot be sent (the broker is down or restarting) are kept, up
to a bound, and sent first at the next poll: a broker restart delays samples
rather than losing them. Consumers drop duplicates by the samples' natural
key, so a batch the broker took but did not confirm may safely go twice.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from typing import Any

from cells import rpc

LOG = logging.getLogger(__name__)

TOPIC = "metering"
EVENT_TYPE = "metering.samples"
# Reconnection attempts per batch when the broker is down: the poller must not block on a
# broker that is away; what it could not send waits in the backlog.
RETRY = 3
# Samples kept unsent at most (~ a day of 300 s polls of 40 guests); the oldest go first.
BACKLOG_SAMPLES = 100_000


class SampleNotifier:
    """Publishes samples in batches of at most ``batch_size`` per notification."""

    def __init__(self, broker_url: str, publisher_id: str, batch_size: int = 500,
                 backlog_samples: int = BACKLOG_SAMPLES, retry: int = RETRY) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = batch_size
        self.backlog_samples = backlog_samples
        self.dropped = 0  # samples lost because the backlog was full
        self._publisher = rpc.NotificationPublisher(broker_url, publisher_id, TOPIC, retry=retry)
        self._backlog: deque[list[dict[str, Any]]] = deque()
        self._backlog_size = 0

    @property
    def pending(self) -> int:
        """Samples waiting for the broker."""
        return self._backlog_size

    def send(self, samples: Sequence[dict[str, Any]]) -> int:
        """Publish what waits from earlier polls, then ``samples``; returns notifications sent."""
        for start in range(0, len(samples), self.batch_size):
            batch = list(samples[start:start + self.batch_size])
            self._backlog.append(batch)
            self._backlog_size += len(batch)
        sent = 0
        while self._backlog:
            batch = self._backlog[0]
            try:
                self._publisher.info(EVENT_TYPE, {"samples": batch})
            except Exception as exc:  # noqa: BLE001 - any driver error: keep the batch for later
                LOG.warning("metering: cannot send samples (%s); %d samples wait for the broker",
                            exc, self._backlog_size)
                break
            self._backlog.popleft()
            self._backlog_size -= len(batch)
            sent += 1
        self._bound()  # only once the broker refused: a big poll is never cut before a try
        if sent:
            LOG.debug("sent %d notifications of samples", sent)
        return sent

    def _bound(self) -> None:
        while self._backlog_size > self.backlog_samples and len(self._backlog) > 1:
            oldest = self._backlog.popleft()
            self._backlog_size -= len(oldest)
            self.dropped += len(oldest)
            LOG.warning("metering: backlog full, %d oldest samples dropped", len(oldest))
