"""Asking every compute cell for its new rollups, by cell routing.

The API cell knows its compute cells from their capacity reports (one row per
compute cell, whatever site cells lie between). Each round asks every cell
not asked lately for the rollups after its stored cursor; the cell's collector
answers with ``store_rollups`` routed back up. An answer saying ``more`` is
followed by the next request at once; a lost request or answer is healed by the
next round, which starts again from the cursor in the database.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import cast

import sqlalchemy as sa

from cells import tree
from cells.config import CellConfig
from cells.context import RequestContext
from cells.db.api_models import ChildCapacity
from cells.db.engine import Database
from cells.rpcapi import CellsAPI
from metering.accounting import store
from metering.rpcapi import CollectorAPI

LOG = logging.getLogger(__name__)

CAPACITY = cast(sa.Table, ChildCapacity.__table__)
# Bounded reconnection attempts: a round must not hang on a broker that is down.
SEND_RETRIES = 3

# send(cell_path, since): ask one cell for its rollups after revision ``since``.
Send = Callable[[str, int], None]


def routed_sender(conf: CellConfig) -> Send:
    """Return a Send that routes ``send_rollups`` to a cell's collector through the cells daemons."""
    collectors = CollectorAPI(conf.broker_url, CellsAPI(conf.broker_url, retry=SEND_RETRIES))
    ctxt = RequestContext.admin(conf.path)

    def send(cell_path: str, since: int) -> None:
        collectors.send_rollups_to(ctxt, cell_path, since, conf.metering_gather_batch, conf.path)

    return send


def compute_cells(db: Database, root: str) -> list[str]:
    """Paths of the compute cells below ``root`` that have reported capacity (one SELECT)."""
    with db.engine.connect() as conn:
        paths = conn.execute(sa.select(CAPACITY.c.cell_path).order_by(CAPACITY.c.cell_path)).scalars()
        return [p for p in paths if p != root and tree.is_below(p, root)]


class Gatherer:
    """Decides when each compute cell is asked; ``round`` runs periodically, ``answered`` on each answer."""

    def __init__(self, conf: CellConfig, db: Database, send: Send | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.conf = conf
        self.db = db
        self.send = send or routed_sender(conf)
        self.clock = clock
        self._asked: dict[str, float] = {}
        self._lock = threading.Lock()

    def ask(self, cell_path: str) -> int:
        """Ask ``cell_path`` for the rollups after its stored cursor; returns that cursor."""
        since = store.cursor(self.db, cell_path)
        with self._lock:
            self._asked[cell_path] = self.clock()
        self.send(cell_path, since)
        return since

    def round(self) -> list[str]:
        """Ask every compute cell not asked within half a gather interval; returns the cells asked.

        A cell in the middle of a run of ``more`` answers was asked moments ago and
        is left to it; one whose request or answer was lost is asked again here.
        """
        asked = []
        now = self.clock()
        for cell_path in compute_cells(self.db, self.conf.path):
            with self._lock:
                last = self._asked.get(cell_path)
            if last is not None and now - last < self.conf.metering_gather_interval / 2:
                continue
            try:
                self.ask(cell_path)
                asked.append(cell_path)
            except Exception:  # noqa: BLE001 - one unreachable cell must not stop the others
                LOG.exception("asking %s for its rollups failed; the next round retries", cell_path)
        return asked

    def answered(self, cell_path: str, more: bool, advanced: bool) -> None:
        """After an answer was stored: ask again at once if the cell has more and the cursor moved."""
        if more and advanced:
            self.ask(cell_path)
