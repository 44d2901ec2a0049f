"""The cloud-scheduler RPC endpoint (topic ``scheduler``).

One endpoint serves both cell types and hands each method to the scheduler
of its cell: in the API cell ``schedule_instances`` chooses a compute cell
(``cell_scheduler``); in a compute cell ``build_instances`` chooses and
claims a host (``host_scheduler``). A method sent to the wrong kind of cell
is logged and dropped: it is a routing error, and retrying cannot fix it.
"""

from __future__ import annotations

import logging
from typing import Any

from cells import rpc
from cells.config import CellConfig
from cells.context import RequestContext
from cells.db.engine import DATABASES, Database
from cells.exception import ConfigError
from cells.rpcapi import CellsAPI
from compute_agent.rpcapi import ComputeAPI
from scheduler.cell_scheduler import CellScheduler
from scheduler.host_scheduler import HostScheduler

LOG = logging.getLogger(__name__)

Scheduler = CellScheduler | HostScheduler


def make_scheduler(conf: CellConfig, db: Database | None = None) -> Scheduler:
    """Return the scheduler of ``conf``'s cell type; raises ConfigError in a site cell."""
    db = db or DATABASES.get(conf.database_url, pool_size=conf.db_pool_size,
                             max_overflow=conf.db_max_overflow, deadlock_retries=conf.deadlock_retries)
    if conf.type == "api":
        return CellScheduler(conf, db, CellsAPI(conf.broker_url))
    if conf.type == "compute":
        return HostScheduler(conf, db, ComputeAPI(conf.broker_url), CellsAPI(conf.broker_url))
    raise ConfigError(f"{conf.source}: cloud-scheduler runs in the API cell and in compute cells, "
                      f"not in a {conf.type} cell")


class SchedulerManager:
    """RPC endpoint: every public method is callable over the ``scheduler`` topic."""

    target = rpc.target("1.0")

    def __init__(self, conf: CellConfig, scheduler: Scheduler) -> None:
        self._conf = conf
        self._scheduler = scheduler

    def schedule_instances(self, ctxt: RequestContext, requests: list[dict[str, Any]]) -> None:
        """API cell: place each build request in a compute cell and route it there."""
        if not isinstance(self._scheduler, CellScheduler):
            LOG.error("schedule_instances reached %s cell %s: dropped %d requests",
                      self._conf.type, self._conf.path, len(requests))
            return
        self._scheduler.schedule_instances(ctxt, requests)

    def build_instances(self, ctxt: RequestContext, requests: list[dict[str, Any]]) -> None:
        """Compute cell: claim a host for each build request and cast it to the host's agent."""
        if not isinstance(self._scheduler, HostScheduler):
            LOG.error("build_instances reached %s cell %s: dropped %d requests",
                      self._conf.type, self._conf.path, len(requests))
            return
        self._scheduler.build_instances(ctxt, requests)
