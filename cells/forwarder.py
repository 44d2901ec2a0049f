"""Forwarders: casts to one neighbouring cell's cells daemon, batched.

A forwarder thread drains everything queued for its neighbour into one
message per kind, so under load a hop costs one AMQP message per batch
rather than per instance, and when idle nothing waits.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from cells import rpc
from cells.context import RequestContext
from cells.rpcapi import TOPIC, VERSION

LOG = logging.getLogger(__name__)
MAX_BATCH = 500

_STOP = object()


class Forwarder:
    """Queues route envelopes, instance updates and capacity reports for one neighbour."""

    def __init__(self, neighbour: str, broker_url: str) -> None:
        self.name = f"forwarder-{neighbour}"
        self.neighbour = neighbour
        self.client = rpc.get_client(broker_url, TOPIC, VERSION)
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None

    def route(self, envelope: dict[str, Any]) -> None:
        self._queue.put(("route", envelope))

    def update(self, update: dict[str, Any]) -> None:
        self._queue.put(("updates", update))

    def capacity(self, report: dict[str, Any]) -> None:
        self._queue.put(("capacity", report))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(_STOP)
        if self._thread:
            self._thread.join(timeout=10)

    def _drain(self, first: Any) -> tuple[dict[str, list[Any]], bool]:
        batch: dict[str, list[Any]] = {"route": [], "updates": [], "capacity": []}
        stop = False
        item = first
        count = 0
        while True:
            if item is _STOP:
                stop = True
            else:
                kind, payload = item
                batch[kind].append(payload)
                count += 1
            if count >= MAX_BATCH:
                break
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
        return batch, stop

    def _run(self) -> None:
        ctxt = RequestContext.admin()
        while True:
            batch, stop = self._drain(self._queue.get())
            try:
                self._send(ctxt, batch)
            except Exception:  # noqa: BLE001 - keep the thread; sync and deadlines heal losses
                LOG.exception("sending to %s failed; %d messages dropped", self.neighbour,
                              sum(len(v) for v in batch.values()))
            if stop:
                return

    def _send(self, ctxt: RequestContext, batch: dict[str, list[Any]]) -> None:
        if batch["route"]:
            self.client.cast(ctxt, "route", envelopes=batch["route"])
        if batch["updates"]:
            self.client.cast(ctxt, "updates_up", updates=batch["updates"])
        for report in batch["capacity"]:
            self.client.cast(ctxt, "capacity_up", report=report)
