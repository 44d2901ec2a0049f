"""The batch notification endpoint: samples from the cell's broker into the ingestor."""

from __future__ import annotations

import logging
import time
from typing import Any

from cells import rpc
from metering.collector.ingest import Ingestor

LOG = logging.getLogger(__name__)
TOPIC = "metering"  # the agents' notification topic (metering.pollsters.notifier)
# Notifications per batch (each up to metering.batch_size samples) and the longest wait for one.
BATCH_SIZE = 40
BATCH_TIMEOUT = 1.0
# Messages the broker sends ahead of the collector's acks: two batches. oslo's default is no
# limit, which moves a whole backlog (a collector restarted after an outage) into memory at once.
PREFETCH = 2 * BATCH_SIZE
# Pause before a batch that could not be stored goes back to the broker, so a database
# outage is not a busy loop.
REQUEUE_PAUSE = 1.0


class SampleEndpoint:
    """Receives batches of ``metering.samples`` notifications (priority info)."""

    def __init__(self, ingestor: Ingestor) -> None:
        self.ingestor = ingestor

    def info(self, messages: list[dict[str, Any]]) -> Any:
        try:
            self.ingestor.ingest_notifications(messages)
        except Exception:  # noqa: BLE001 - anything that kept the batch from the store: retry it
            LOG.exception("could not store %d notifications; they go back to the broker",
                          len(messages))
            time.sleep(REQUEUE_PAUSE)
            return rpc.REQUEUE
        return None


def listener(broker_url: str, ingestor: Ingestor) -> Any:
    """The batch listener on the cell's ``metering`` topic (one queue shared by the cell's collectors)."""
    return rpc.get_notification_listener(with_prefetch(broker_url), TOPIC, [SampleEndpoint(ingestor)],
                                         batch_size=BATCH_SIZE, batch_timeout=BATCH_TIMEOUT,
                                         allow_requeue=True)


def with_prefetch(broker_url: str) -> str:
    """The broker URL with the listener's prefetch limit (oslo reads driver options from the query)."""
    if not broker_url.startswith("rabbit://"):
        return broker_url
    return broker_url + ("&" if "?" in broker_url else "?") + f"rabbit_qos_prefetch_count={PREFETCH}"
