"""A collector's parts on a real database, with a settable clock and fixed metadata."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cells.db.engine import Database
from metering.collector.dirty import DirtySet
from metering.collector.ingest import Ingestor
from metering.collector.roller import Roller
from metering.collector.rollup import InstanceInfo, Settings
from metering.collector.store import SampleStore

HOUR, POLL, RETENTION = 3600.0, 300.0, 7 * 86400.0
# A whole number of hours since the epoch, close to now: samples are inside the retention.
BASE = (int(dt.datetime.now(dt.UTC).timestamp()) // 3600 - 3) * 3600
INSTANCE = "0b5e7d4c-6a55-4d2f-9a43-8f2f3c1d9e01"
OTHER = "1c6f8e5d-7b66-4e3a-8b54-9a3a4d2e0f12"


def stamp(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()


def poll(t: float, instance: str = INSTANCE, vcpus: int = 2, rx: int = 0, tx: int = 0,
         host: str = "hv-a") -> list[dict[str, Any]]:
    """The rolled samples of one poll of one guest (plus a gauge the rollup ignores)."""
    base = {"type": "gauge", "instance_id": instance, "project_id": "proj", "user_id": "user",
            "host": host, "timestamp": stamp(t)}
    return [
        {**base, "id": f"{instance}-{t}-v", "name": "vcpus", "unit": "vcpu", "volume": vcpus,
         "resource_id": instance, "metadata": {"interval": POLL}},
        {**base, "id": f"{instance}-{t}-m", "name": "memory.usage", "unit": "MiB", "volume": 100.5,
         "resource_id": instance, "metadata": {}},
        {**base, "id": f"{instance}-{t}-i", "name": "network.incoming.bytes", "unit": "B",
         "type": "cumulative", "volume": rx, "resource_id": f"{instance}-tap0",
         "metadata": {"device": "tap0"}},
        {**base, "id": f"{instance}-{t}-o", "name": "network.outgoing.bytes", "unit": "B",
         "type": "cumulative", "volume": tx, "resource_id": f"{instance}-tap0",
         "metadata": {"device": "tap0"}},
    ]


def polls(start: float, count: int, instance: str = INSTANCE, **kw: Any) -> list[dict[str, Any]]:
    """``count`` polls every POLL seconds from ``start``, counters growing 1000 B/s in, 10 out."""
    out: list[dict[str, Any]] = []
    for i in range(count):
        t = start + POLL * i
        out += poll(t, instance, rx=int(1000 * (t - BASE)), tx=int(10 * (t - BASE)), **kw)
    return out


class Rig:
    """Store, dirty set, ingestor and roller over ``db``; new objects for every Rig (a restart)."""

    def __init__(self, db: Database, now: float, infos: dict[str, InstanceInfo] | None = None,
                 hosts: dict[str, float] | None = None, retention: float = RETENTION) -> None:
        self.now = now
        self.store = SampleStore(db)
        self.dirty = DirtySet()
        self.settings = Settings.of(HOUR, POLL)
        self.infos = infos if infos is not None else {
            INSTANCE: InstanceInfo("proj", "user", "3", "m1.medium", 2, 4096, 40,
                                   launched_us=int((BASE - 100) * 1e6), host="hv-a"),
            OTHER: InstanceInfo("proj", "user", "1", "m1.tiny", 1, 512, 1,
                                launched_us=int((BASE - 100) * 1e6), host="hv-b")}
        self.hs06 = hosts if hosts is not None else {"hv-a": 10.0, "hv-b": 20.0}
        self.ingestor = Ingestor(self.store, self.dirty, self.settings, retention,
                                 clock=lambda: self.now)
        self.roller = Roller(self.store, self.dirty, self.settings, retention, self.infos.get,
                             lambda: dict(self.hs06), clock=lambda: self.now)

    def feed(self, samples: list[dict[str, Any]]) -> Any:
        return self.ingestor.ingest(samples)

    def roll(self) -> Any:
        return self.roller.roll()

    def rows(self, instance: str = INSTANCE, keep_revision: bool = False) -> list[dict[str, Any]]:
        rows = self.store.rollups_of(instance)
        if not keep_revision:
            for r in rows:
                r.pop("revision")
        return rows


def total(rows: list[dict[str, Any]], key: str) -> float:
    return sum(r[key] for r in rows)
