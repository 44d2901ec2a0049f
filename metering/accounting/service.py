"""The API cell's ``cloud-metering``: the ``metering-accounting`` RPC server and the gathering rounds.

Compute cells' collectors answer a request for rollups with a cast routed to
this cell: topic ``metering-accounting``, ``store_rollups(ctxt, cell_path,
rollups, more)`` (API version 1.0).
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from cells import rpc, tree
from cells.config import CellConfig
from cells.context import RequestContext
from cells.db.engine import DATABASES, Database
from cells.exception import ConfigError
from cells.service import Component, PeriodicTask, RpcServer
from metering import rpcapi
from metering.accounting import store
from metering.accounting.gather import Gatherer

LOG = logging.getLogger(__name__)

TOPIC = rpcapi.ACCOUNTING_TOPIC
VERSION = "1.0"


class AccountingEndpoint:
    """Server side of ``metering-accounting``: stores the rollups a compute cell sent up."""

    target = rpc.target(VERSION)

    def __init__(self, conf: CellConfig, db: Database, gatherer: Gatherer) -> None:
        self.conf = conf
        self.db = db
        self.gatherer = gatherer

    def store_rollups(self, ctxt: RequestContext, cell_path: str, rollups: list[dict[str, Any]],
                      more: bool) -> None:
        """Upsert one answer of ``cell_path`` and, if it has more, ask it for the next batch at once."""
        if not isinstance(cell_path, str) or cell_path == self.conf.path \
                or not tree.is_below(cell_path, self.conf.path):
            LOG.error("rollups from %r, not a cell below %s: dropped", cell_path, self.conf.path)
            return
        if not isinstance(rollups, list):
            LOG.error("rollups from %s are not a list: dropped", cell_path)
            return
        before = store.cursor(self.db, cell_path)
        stored = store.store_rollups(self.db, cell_path, rollups)
        LOG.debug("%s: %d rollups written, %d ignored, cursor %d", cell_path, stored.written,
                  stored.ignored, stored.cursor)
        try:
            self.gatherer.answered(cell_path, bool(more), stored.cursor > before)
        except Exception:  # noqa: BLE001 - the answer is stored; the next round asks again
            LOG.exception("asking %s for its next rollups failed", cell_path)


def server_name(conf: CellConfig) -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{conf.path}"


def build(conf: CellConfig) -> list[Component]:
    """Return the accounting's components: the RPC server, then the periodic gathering round.

    Raises ConfigError outside the API cell (compute cells run the collector instead).
    """
    if not conf.is_root or conf.type != "api":
        raise ConfigError(f"{conf.source}: the accounting of cloud-metering runs in the API cell only "
                          f"(cell {conf.path} is a {conf.type} cell)")
    db = DATABASES.get(conf.database_url, pool_size=conf.db_pool_size,
                       max_overflow=conf.db_max_overflow, deadlock_retries=conf.deadlock_retries)
    gatherer = Gatherer(conf, db)
    endpoint = AccountingEndpoint(conf, db, gatherer)
    server = rpc.get_server(conf.broker_url, TOPIC, server_name(conf), [endpoint])
    return [
        RpcServer("metering-accounting-rpc", server),
        PeriodicTask("metering-gather", conf.metering_gather_interval, gatherer.round,
                     initial_delay=min(1.0, conf.metering_gather_interval)),
    ]
