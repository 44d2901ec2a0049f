"""The cloud-scheduler RPC endpoint (topic ``scheduler``).

One endpoint serves both cell types and hands each method to the scheduler
of its cell: in the API cell ``schedule_instances`` chooses a compute cell
(``cell_scheduler``); in a compute cell ``build_instances`` chooses and
claims a host (``host_scheduler``) and ``prestage_image`` pushes an image to
every host (``prestage``). A method sent to the wrong kind of cell
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
from scheduler.prestage import Prestager

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


def make_prestager(conf: CellConfig, scheduler: Scheduler) -> Prestager | None:
    """Return the pre-staging driver of a compute cell's scheduler (None in the API cell)."""
    if not isinstance(scheduler, HostScheduler):
        return None
    return Prestager(conf, scheduler.cache, ComputeAPI(conf.broker_url), CellsAPI(conf.broker_url))


class SchedulerManager:
    """RPC endpoint: every public method is callable over the ``scheduler`` topic."""

    target = rpc.target("1.2")

    def __init__(self, conf: CellConfig, scheduler: Scheduler, prestager: Prestager | None = None) -> None:
        self._conf = conf
        self._scheduler = scheduler
        self._prestager = prestager

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

    def prestage_image(self, ctxt: RequestContext, prestage: dict[str, Any]) -> None:
        """Compute cell (1.1; 1.2: with ``settings``): push an image to every host's cache, in a
        thread of its own."""
        if self._prestager is None:
            LOG.error("prestage_image reached %s cell %s: dropped", self._conf.type, self._conf.path)
            return
        if not isinstance(prestage, dict) or not prestage.get("id") or \
                not isinstance(prestage.get("image"), dict) or not prestage["image"].get("id"):
            LOG.error("dropping a malformed prestage_image request")
            return
        self._prestager.start(ctxt, prestage)
