"""Instance and host metadata, read from the cell-local Compute API only, cached and persisted.

The collector never reads the API cell: it logs in at its own cell's identity
service and reads its own cell's read-only API (servers with their owner,
flavor, host and launch time; flavors; hypervisors with their HS06 per core).
What it learnt is kept in the cell database, so a restart or an instance
deleted meanwhile keeps its metadata.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests

from cells.exception import CloudError, ServiceUnavailable
from metering.collector.parse import to_us
from metering.collector.rollup import InstanceInfo
from metering.collector.store import SampleStore

LOG = logging.getLogger(__name__)
PAGE = 1000
# Every so many refreshes the whole list is read again, not only what changed since the last one.
FULL_EVERY = 10
# Overlap of consecutive incremental reads: clocks of the API and the collector differ a little.
OVERLAP = 120.0


class CellApiClient:
    """GETs on the cell-local Compute API with the cell's service token."""

    def __init__(self, base_url: str, token: Callable[[], str],
                 invalidate: Callable[[], None] | None = None,
                 session: requests.Session | None = None, timeout: float = 10.0) -> None:
        self.base = base_url.rstrip("/") + "/v2.1"
        self._token = token
        self._invalidate = invalidate
        self._session = session or requests.Session()
        self.timeout = timeout

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Return the JSON body; raises ServiceUnavailable if the API is unreachable or refuses."""
        for attempt in (1, 2):
            try:
                resp = self._session.get(self.base + path, params=params, timeout=self.timeout,
                                         headers={"X-Auth-Token": self._token(),
                                                  "Accept": "application/json"})
            except requests.RequestException as exc:
                raise ServiceUnavailable(f"cell-local API {self.base} unreachable "
                                         f"({type(exc).__name__})") from exc
            if resp.status_code == 401 and attempt == 1 and self._invalidate:
                self._invalidate()  # the token expired or was revoked: log in again once
                continue
            if resp.status_code != 200:
                raise ServiceUnavailable(f"cell-local API {self.base}{path} answered {resp.status_code}")
            body = resp.json()
            if not isinstance(body, dict):
                raise ServiceUnavailable(f"cell-local API {self.base}{path} sent no JSON object")
            return body
        raise ServiceUnavailable(f"cell-local API {self.base}{path} refused the service token")

    def servers(self, changes_since: str | None = None) -> Iterator[dict[str, Any]]:
        """Every server (with ``changes_since``: also deleted ones changed since), page by page."""
        params: dict[str, Any] = {"all_tenants": 1, "limit": PAGE}
        if changes_since:
            params["changes-since"] = changes_since
        while True:
            body = self.get("/servers/detail", params)
            page = [s for s in body.get("servers") or [] if isinstance(s, dict) and "id" in s]
            yield from page
            if not page or not body.get("servers_links"):
                return
            params["marker"] = page[-1]["id"]

    def flavors(self) -> dict[str, dict[str, Any]]:
        """{flavor id: flavor} of the flavors the cell's instances carry."""
        body = self.get("/flavors/detail")
        return {str(f["id"]): f for f in body.get("flavors") or [] if isinstance(f, dict) and "id" in f}

    def hosts(self) -> dict[str, float]:
        """{host: HS06 per core} of the cell's hypervisors that state it."""
        found: dict[str, float] = {}
        for hv in self.get("/os-hypervisors/detail").get("hypervisors") or []:
            if not isinstance(hv, dict):
                continue
            name = str(hv.get("hypervisor_hostname") or hv.get("id") or "").rpartition("@")[2]
            try:
                info = hv.get("cpu_info")
                cpu = json.loads(info) if isinstance(info, str) else info
                value = float(cpu["hs06_per_core"]) if isinstance(cpu, dict) else None
            except (ValueError, TypeError, KeyError):
                continue
            if name and value is not None:
                found[name] = value
        return found


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def instance_info(server: Mapping[str, Any], flavors: Mapping[str, Mapping[str, Any]],
                  before: InstanceInfo | None) -> InstanceInfo:
    """An instance's metadata from its server document and the flavor list (pure)."""
    given = server.get("flavor")
    flavor_ref: Mapping[str, Any] = given if isinstance(given, dict) else {}
    flavor_id = str(flavor_ref.get("id", "")) or None
    flavor = flavors.get(flavor_id or "")
    launched = server.get("OS-SRV-USG:launched_at")
    try:
        launched_us = to_us(launched) if isinstance(launched, str) else None
    except ValueError:
        launched_us = None
    if flavor is None and before is not None and before.flavor_id == flavor_id:
        vcpus, ram, disk, name = before.vcpus, before.ram_mb, before.disk_gb, before.flavor_name
    elif flavor is None:
        vcpus, ram, disk, name = 0, 0, 0, None
    else:
        vcpus, ram = _int(flavor.get("vcpus")), _int(flavor.get("ram"))
        disk = _int(flavor.get("disk")) + _int(flavor.get("OS-FLV-EXT-DATA:ephemeral"))
        name = str(flavor.get("name")) if flavor.get("name") is not None else None
    return InstanceInfo(
        project_id=server.get("tenant_id"), user_id=server.get("user_id"), flavor_id=flavor_id,
        flavor_name=name, vcpus=vcpus, ram_mb=ram, disk_gb=disk, launched_us=launched_us,
        host=server.get("OS-EXT-SRV-ATTR:host") or (before.host if before else None))


class Metadata:
    """The cache: {instance: InstanceInfo} and {host: HS06 per core}, refreshed from the API.

    ``on_change(instance_ids, hosts_changed)`` is told what a refresh learnt, so
    rollups computed without it are recomputed.
    """

    def __init__(self, store: SampleStore, client: CellApiClient, retention: float,
                 on_change: Callable[[set[str], bool], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.client = client
        self.retention = retention
        self.on_change = on_change
        self._clock = clock
        self._lock = threading.Lock()
        self._instances: dict[str, InstanceInfo] = {}
        self._hosts: dict[str, float] = {}
        self._last_read: float | None = None  # when the last successful refresh started
        self._refreshes = 0

    def load(self) -> None:
        """Fill the cache from the cell database (what earlier runs learnt)."""
        instances, hosts = self.store.instances(), self.store.hosts()
        with self._lock:
            self._instances.update(instances)
            self._hosts.update(hosts)

    def instance(self, instance_id: str) -> InstanceInfo | None:
        return self._instances.get(instance_id)

    def known(self, instance_id: str) -> bool:
        return instance_id in self._instances

    def hosts(self) -> dict[str, float]:
        with self._lock:
            return dict(self._hosts)

    def refresh(self) -> tuple[set[str], bool]:
        """Read the API (what changed since the last read; everything now and then).

        Returns (instances new or changed, whether any host's HS06 changed); raises
        ServiceUnavailable when the API cannot be read (the cache stays as it was).
        """
        started = self._clock()
        full = self._last_read is None or self._refreshes % FULL_EVERY == 0
        since = started - self.retention if full else (self._last_read or started) - OVERLAP
        servers: dict[str, dict[str, Any]] = {}
        if full:
            servers.update((s["id"], s) for s in self.client.servers())
        changed_since = _iso(since)
        servers.update((s["id"], s) for s in self.client.servers(changed_since))
        flavors = self.client.flavors()
        hosts = self.client.hosts()
        with self._lock:
            learnt = {}
            for uuid, server in servers.items():
                info = instance_info(server, flavors, self._instances.get(uuid))
                if self._instances.get(uuid) != info:
                    learnt[uuid] = info
            new_hosts = {h: v for h, v in hosts.items() if self._hosts.get(h) != v}
        self.store.save_instances(learnt)
        self.store.save_hosts(new_hosts)
        with self._lock:
            self._instances.update(learnt)
            self._hosts.update(new_hosts)
        self._last_read = started
        self._refreshes += 1
        if (learnt or new_hosts) and self.on_change:
            self.on_change(set(learnt), bool(new_hosts))
        return set(learnt), bool(new_hosts)


def _iso(seconds: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class MetadataRefresher:
    """A component: refreshes every ``interval`` seconds, and sooner on ``request()`` (rate-limited)."""

    name = "metering-metadata"

    def __init__(self, metadata: Metadata, interval: float, min_gap: float) -> None:
        self.metadata = metadata
        self.interval = interval
        self.min_gap = min_gap
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def request(self) -> None:
        """Ask for a refresh soon (an instance the cache does not know sent samples)."""
        self._wake.set()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def refresh_once(self) -> bool:
        """Refresh now; returns False (logged once per outage) when the API cannot be read."""
        try:
            self.metadata.refresh()
        except CloudError as exc:  # unreachable, or the service account refused: try again later
            if not self._failing:
                LOG.warning("metadata refresh failed (keeping what is cached): %s", exc.message)
            self._failing = True
            return False
        except Exception:  # noqa: BLE001 - the refresher must outlive any one failure
            LOG.exception("metadata refresh failed")
            return False
        if self._failing:
            LOG.info("metadata refresh works again")
        self._failing = False
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            self.refresh_once()
            self._wake.clear()
            # Wait a whole interval, or a request after at least min_gap.
            if self._stop.wait(self.min_gap):
                return
            self._wake.wait(max(0.0, self.interval - (time.monotonic() - started)))
