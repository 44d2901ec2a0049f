"""Client side of the compute cells' metering collectors, reached by cell routing.

The API cell's accounting asks a compute cell's collector for its rollups
newer than a revision; the collector answers with a cast routed back to the
asking cell (topic ``metering-accounting``, method ``store_rollups(cell_path,
rollups, more)``). Only primitives travel.

API versions:
  1.0 - send_rollups(since, limit, reply_to)
"""

from __future__ import annotations

from cells.context import RequestContext
from cells.rpcapi import CellsAPI

TOPIC = "metering-collector"
VERSION = "1.0"
# Where collectors send their answers, in the asking (API) cell.
ACCOUNTING_TOPIC = "metering-accounting"
# Rollups per answer at most: keeps a message well under 1 MB.
MAX_LIMIT = 1000


class CollectorAPI:
    """Asks the collector of any cell below for rollups, through this cell's cells daemon."""

    def __init__(self, broker_url: str, cells_api: CellsAPI | None = None) -> None:
        self.cells = cells_api or CellsAPI(broker_url)

    def send_rollups_to(self, ctxt: RequestContext, cell_path: str, since: int, limit: int,
                        reply_to: str) -> None:
        """Ask ``cell_path``'s collector for up to ``limit`` rollups with a revision above ``since``.

        The answer arrives as ``store_rollups`` on ``metering-accounting`` in ``reply_to``.
        """
        self.cells.route(ctxt, cell_path, TOPIC, "send_rollups",
                         {"since": int(since), "limit": max(1, min(int(limit), MAX_LIMIT)),
                          "reply_to": reply_to}, version=VERSION)
