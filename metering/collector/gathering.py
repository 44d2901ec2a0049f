"""The collector's RPC endpoint: answers the API cell's requests for rollups by revision."""

from __future__ import annotations

import logging
from typing import Any

from cells import rpc
from cells.config import CellConfig
from cells.context import RequestContext
from cells.rpcapi import CellsAPI
from metering.collector.store import SampleStore
from metering.rpcapi import ACCOUNTING_TOPIC, MAX_LIMIT, VERSION

LOG = logging.getLogger(__name__)


class GatheringEndpoint:
    """Serves topic ``metering-collector``: ``send_rollups`` answers by a routed cast."""

    target = rpc.target(VERSION)

    def __init__(self, conf: CellConfig, store: SampleStore, cells_api: CellsAPI | None = None) -> None:
        self.conf = conf
        self.store = store
        self.cells = cells_api or CellsAPI(conf.broker_url)

    def send_rollups(self, ctxt: RequestContext, since: Any, limit: Any, reply_to: Any) -> int:
        """Route up to ``limit`` rollups with a revision above ``since`` to ``reply_to``.

        Returns how many were sent; a malformed request is logged and dropped.
        """
        if (isinstance(since, bool) or not isinstance(since, int) or isinstance(limit, bool)
                or not isinstance(limit, int) or not isinstance(reply_to, str) or not reply_to):
            LOG.warning("ignoring send_rollups with since=%r limit=%r reply_to=%r",
                        str(since)[:32], str(limit)[:32], str(reply_to)[:255])
            return 0
        limit = max(1, min(limit, MAX_LIMIT))
        rows = self.store.rollups_since(max(0, since), limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        self.cells.route(ctxt, reply_to, ACCOUNTING_TOPIC, "store_rollups",
                         {"cell_path": self.conf.path, "rollups": rows, "more": more})
        return len(rows)
