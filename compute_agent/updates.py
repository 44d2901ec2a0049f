"""Sends instance states up to the cell's cells daemon, batched.

Operations hand their final state here and go on; one thread drains whatever
has queued into a single ``updates_up`` cast, so a busy agent sends few
messages. A lost update is repaired by the cells' periodic sync.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any, Protocol

from cells.context import RequestContext

LOG = logging.getLogger(__name__)

_STOP = object()


class UpdatesClient(Protocol):
    def updates_up(self, ctxt: RequestContext, updates: list[dict[str, Any]]) -> None: ...


class UpdateSender:
    def __init__(self, client: UpdatesClient, cell_path: str, max_batch: int = 200) -> None:
        self.name = "compute-updates"
        self.client = client
        self.cell_path = cell_path
        self.max_batch = max_batch
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None

    def send(self, update: dict[str, Any]) -> None:
        """Queue one instance's full state for sending up."""
        self._queue.put(update)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Send what is queued, then stop."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        ctxt = RequestContext.admin(cell_path=self.cell_path)
        while True:
            item = self._queue.get()
            stopping = item is _STOP
            batch = [] if stopping else [item]
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stopping = True
                    continue
                batch.append(more)
            if batch:
                try:
                    self.client.updates_up(ctxt, batch)
                except Exception:  # noqa: BLE001 - the periodic sync repairs a lost update
                    LOG.exception("sending %d instance update(s) up failed", len(batch))
            if stopping:
                return
