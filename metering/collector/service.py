"""The compute cell's ``cloud-metering``: its components, built from the cell's configuration.

- a batch listener on the cell's ``metering`` topic (samples into the store);
- the rollup pass every ``metering.rollup_interval`` (dirty buckets recomputed in bulk);
- the raw-sample purge (past ``metering.raw_retention``), hourly or more often;
- the metadata refresh from the cell-local API every ``metering.metadata_refresh``;
- the RPC server answering the API cell's ``send_rollups``.
"""

from __future__ import annotations

import logging
import socket
import time

from cells import rpc
from cells.config import CellConfig
from cells.db.engine import DATABASES
from cells.exception import ConfigError
from cells.service import Component, FunctionComponent, PeriodicTask, RpcServer
from identity.service_token import ServiceToken
from metering.collector.dirty import DirtySet
from metering.collector.gathering import GatheringEndpoint
from metering.collector.ingest import Ingestor
from metering.collector.listener import listener
from metering.collector.metadata import CellApiClient, Metadata, MetadataRefresher
from metering.collector.roller import Roller
from metering.collector.rollup import US, Settings
from metering.collector.store import SampleStore
from metering.rpcapi import TOPIC

LOG = logging.getLogger(__name__)
# An unknown instance asks for a metadata refresh at most this often (seconds).
ON_DEMAND_GAP = 5.0


class Collector:
    """The collector's parts wired together (also what tests drive directly)."""

    def __init__(self, conf: CellConfig, store: SampleStore, client: CellApiClient) -> None:
        self.conf = conf
        self.store = store
        self.settings = Settings.of(conf.metering_hour_seconds, conf.metering_poll_interval)
        self.dirty = DirtySet()
        self.metadata = Metadata(store, client, conf.metering_raw_retention)
        self.refresher = MetadataRefresher(self.metadata, conf.metering_metadata_refresh,
                                           min(ON_DEMAND_GAP, conf.metering_metadata_refresh))
        self.roller = Roller(store, self.dirty, self.settings, conf.metering_raw_retention,
                             self.metadata.instance, self.metadata.hosts)
        self.metadata.on_change = self.roller.metadata_changed
        self.ingestor = Ingestor(store, self.dirty, self.settings, conf.metering_raw_retention,
                                 known=self.metadata.known,
                                 on_unknown=lambda _ids: self.refresher.request())
        self.gathering = GatheringEndpoint(conf, store)

    def start(self) -> None:
        """Load what earlier runs learnt and mark the recent buckets for recomputation."""
        self.metadata.load()
        count = self.roller.recover()
        LOG.info("collector of %s started: %d instances with recent samples re-rolled",
                 self.conf.path, count)

    def roll(self) -> None:
        result = self.roller.roll()
        if result.pairs:
            LOG.debug("rolled %d instance-hours, %d changed", result.pairs, result.changed)

    def purge(self) -> None:
        cutoff = round((time.time() - self.conf.metering_raw_retention) * US)
        deleted = self.store.purge(cutoff)
        if deleted:
            LOG.info("purged %d raw samples past the retention", deleted)


def _client(conf: CellConfig) -> CellApiClient:
    if conf.api is None:
        raise ConfigError(f"{conf.source}: key 'api.public_url': expected the cell-local API "
                          "cloud-metering reads instance and host metadata from")
    try:
        token = ServiceToken(conf)
    except ConfigError as exc:
        raise ConfigError(f"{conf.source}: cloud-metering needs the cell's service account: "
                          f"{exc.message}") from exc
    return CellApiClient(conf.api.public_url, token.get, token.invalidate)


def build(conf: CellConfig) -> list[Component]:
    """Return the compute cell collector's components; raises ConfigError if misconfigured."""
    if conf.type != "compute":
        raise ConfigError(f"{conf.source}: the metering collector runs in compute cells only")
    db = DATABASES.get(conf.database_url, pool_size=conf.db_pool_size,
                       max_overflow=conf.db_max_overflow, deadlock_retries=conf.deadlock_retries)
    collector = Collector(conf, SampleStore(db), _client(conf))
    server = rpc.get_server(conf.broker_url, TOPIC, f"{socket.gethostname()}-{conf.name}",
                            [collector.gathering])
    purge_every = min(3600.0, max(1.0, conf.metering_raw_retention / 10))
    return [
        FunctionComponent("metering-state", collector.start, lambda: None),
        collector.refresher,
        RpcServer("metering-listener", listener(conf.broker_url, collector.ingestor)),
        PeriodicTask("metering-rollup", conf.metering_rollup_interval, collector.roll),
        PeriodicTask("metering-purge", purge_every, collector.purge, initial_delay=60.0),
        RpcServer("metering-rpc", server),
    ]
