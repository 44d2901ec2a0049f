"""The agents of one process: one HostAgent per hypervisor, run together by an AgentGroup.

A HostAgent owns its host's identity, libvirt connection, rows and RPC
server. The group shares what one process needs only once (work queue,
update sender, image client, the server of cached images to peers) and runs
the periodic work for all its hosts with one statement each: heartbeat,
resync, usage heal, deadlines and the metering poll. With ``--simulate N``
one process serves N simulated hosts this way.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from cells import rpc
from cells.config import CellConfig
from cells.db.engine import Database
from cells.db.types import utcnow
from cells.exception import ConfigError
from cells.rpcapi import CellsAPI
from cells.service import PeriodicTask
from compute_agent import deadlines, host, instances, reconcile
from compute_agent.capacity import Capacity, limits_of
from compute_agent.env import HostEnv
from compute_agent.images import ImageCache, ImageClient, TokenSource
from compute_agent.manager import ComputeManager
from compute_agent.paths import HostPaths
from compute_agent.peer_images import PeerImageServer
from compute_agent.rpcapi import TOPIC
from compute_agent.sync import sync
from compute_agent.updates import UpdatesClient, UpdateSender
from compute_agent.usage import UsagePoller
from compute_agent.virt.driver import ComputeDriver, HypervisorError
from compute_agent.virt.libvirt import factory
from compute_agent.workqueue import WorkQueue
from metering.pollsters.notifier import SampleNotifier
from metering.pollsters.samples import Pollster

LOG = logging.getLogger(__name__)

RESYNC_INTERVAL = 60.0


def _syncer(env: HostEnv, uuid: str) -> Callable[[], None]:
    return lambda: sync(env, uuid)


class HostAgent:
    """One hypervisor host: registration, its guests' work, its RPC server."""

    def __init__(self, conf: CellConfig, db: Database, name: str, images: ImageClient,
                 sender: UpdateSender, queue: WorkQueue, peers: PeerImageServer | None = None) -> None:
        self.conf = conf
        self.db = db
        self.host = name
        self.paths = HostPaths.of(conf.state_dir, name)
        self._images = images
        self._sender = sender
        self._queue = queue
        self._peers = peers
        self._lock = host.HostLock(self.paths, name)
        self.identity = ""
        self.env: HostEnv | None = None
        self.fenced = False
        self._server: Any = None
        self._driver: ComputeDriver | None = None

    def _local_gb(self) -> int:
        if factory.is_simulated(self.conf.libvirt_uri):
            return self.conf.simulated_host.disk_gb
        stat = os.statvfs(self.paths.disks)
        return stat.f_blocks * stat.f_frsize // 2**30

    def start(self) -> None:
        """Register the host and start serving; raises DuplicateHost, or ConfigError if libvirt fails."""
        self.paths.make()
        self._lock.acquire()
        try:
            self._start()
        except HypervisorError as exc:
            self.stop()
            raise ConfigError(f"host {self.host}: {exc.message}") from exc
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        self.identity = host.load_identity(self.paths)
        self._driver = factory.open_driver(self.conf, self.host, self.paths.node_xml, self.paths.disks)
        facts = self._driver.host_facts()
        local_gb = self._local_gb()
        host.register(self.db, self.conf, host.Registration(self.host, self.identity, facts, local_gb))
        limits = limits_of(facts.vcpus, facts.memory_mb, local_gb, self.conf.cpu_allocation_ratio,
                           self.conf.ram_allocation_ratio, self.conf.disk_allocation_ratio)
        self.env = HostEnv(conf=self.conf, db=self.db, host=self.host, paths=self.paths,
                           driver=self._driver, images=ImageCache(self.paths.images, self._images),
                           capacity=Capacity(limits), sender=self._sender, queue=self._queue,
                           peer_url=self._peers.url_of(self.host) if self._peers else None)
        # Start-up clean-up: only this host's rows, with tasks an earlier run left resumed.
        rows = self.db.transaction(lambda session: instances.host_rows(session, [self.host]))
        self.resync(rows, startup=True)
        self._driver.set_lifecycle_handler(self._on_lifecycle)
        self._server = rpc.get_server(self.conf.broker_url, TOPIC, self.host, [ComputeManager(self.env)])
        self._server.start()
        if self._peers is not None:
            self._peers.app.add(self.host, self.paths.images)
        LOG.info("host %s registered (identity %s, %d vCPU, %d MiB, %d GiB)", self.host, self.identity,
                 facts.vcpus, facts.memory_mb, local_gb)

    def _stop_server(self) -> None:
        if self._peers is not None:
            self._peers.app.remove(self.host)
        if self._server is not None:
            self._server.stop()
            self._server.wait()
            self._server = None

    def stop(self) -> None:
        self._stop_server()
        if self._driver is not None:
            self._driver.close()
            self._driver = None
        self._lock.release()

    def fence(self) -> None:
        """Stop serving: another identity took this host's row while we were thought down."""
        LOG.error("host %s: another cloud-compute took over this host; this one stops serving it",
                  self.host)
        self.fenced = True
        self._stop_server()

    def resync(self, rows: Sequence[dict[str, Any]], startup: bool = False) -> list[reconcile.Step]:
        """Compare ``rows`` (this host's live rows) with the hypervisor and queue a sync per difference."""
        env = self.env
        if env is None or self.fenced:
            return []
        env.capacity.reset({r["uuid"]: instances.resources_of(r) for r in rows})
        try:
            domains: dict[str, int] | None = env.driver.list_instances()
        except HypervisorError as exc:
            LOG.warning("host %s: cannot list domains (%s); resync skipped", self.host, exc)
            domains = None
        desired = [reconcile.Desired(r["uuid"], r["vm_state"], r["task_state"], r["power_state"])
                   for r in rows]
        steps = reconcile.plan(desired, domains, startup=startup)
        for step in steps:
            if env.queue.busy(step.uuid):
                continue  # work is under way; it ends in a sync of its own
            LOG.info("host %s: instance %s: %s (%s)", self.host, step.uuid, step.kind, step.reason)
            env.queue.submit(step.uuid, _syncer(env, step.uuid), f"resync {step.kind}")
        return steps

    def _on_lifecycle(self, uuid: str, power_state: int) -> None:
        env = self.env
        if env is None or env.stop_expected(uuid):
            return
        env.queue.submit(uuid, lambda: sync(env, uuid), f"lifecycle event (power {power_state})")


class AgentGroup:
    """The component a cloud-compute process runs: its host agents and their periodic work."""

    name = "cloud-compute"

    def __init__(self, conf: CellConfig, db: Database, hosts: Sequence[str], tokens: TokenSource,
                 updates: UpdatesClient | None = None, resync_interval: float = RESYNC_INTERVAL,
                 peers: PeerImageServer | None = None) -> None:
        if conf.images is None:
            raise ConfigError(f"{conf.source}: key 'images.public_url': expected the cell's image "
                              "endpoint (cloud-compute fetches images from it)")
        self.conf = conf
        self.db = db
        self.queue = WorkQueue("compute-work", conf.compute_workers)
        self.sender = UpdateSender(updates or CellsAPI(conf.broker_url), conf.path)
        self.images = ImageClient(conf.images.public_url, tokens)
        # Serves the hosts' cached images to other hosts (pre-staging); None: they only fetch.
        self.peers = peers
        self._peers_started = False
        self.agents = {name: HostAgent(conf, db, name, self.images, self.sender, self.queue, peers)
                       for name in hosts}
        self.usage = UsagePoller(db, self.drivers, SampleNotifier(
            conf.broker_url, f"cloud-compute.{conf.name}", conf.metering_batch_size),
            Pollster(interval=conf.metering_poll_interval))
        self._tasks = [
            PeriodicTask("compute-heartbeat", conf.heartbeat_interval, self.heartbeat),
            PeriodicTask("compute-resync", resync_interval, self.resync),
            PeriodicTask("compute-housekeeping", resync_interval, self.housekeeping),
            PeriodicTask("compute-metering", conf.metering_poll_interval, self.poll_usage),
        ]
        self._started: list[HostAgent] = []

    def start(self) -> None:
        self.sender.start()
        try:
            if self.peers is not None:
                self.peers.start()  # first: each agent announces its URL from the bound port
                self._peers_started = True
            for agent in self.agents.values():
                agent.start()
                self._started.append(agent)
        except BaseException:
            self.stop()
            raise
        for task in self._tasks:
            task.start()

    def stop(self) -> None:
        for task in self._tasks:
            task.stop()
        for agent in reversed(self._started):
            agent.stop()
        self._started.clear()
        if self.peers is not None and self._peers_started:
            self.peers.stop()
            self._peers_started = False
        self.queue.stop()
        self.sender.stop()
        self.images.close()

    def live(self) -> list[HostAgent]:
        return [a for a in self._started if a.env is not None and not a.fenced]

    def heartbeat(self) -> None:
        """Mark every live host alive; fence those whose row another identity took."""
        lost = host.heartbeat(self.db, {a.host: a.identity for a in self.live()})
        for name in lost:
            self.agents[name].fence()

    def resync(self) -> None:
        """Reconcile every live host with one read of their rows."""
        agents = self.live()
        if not agents:
            return
        rows = self.db.transaction(lambda s: instances.host_rows(s, [a.host for a in agents]))
        by_host: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            by_host[row["host"]].append(row)
        for agent in agents:
            agent.resync(by_host[agent.host])

    def heal(self) -> int:
        """Recompute the usage counters of every live host from its rows; returns hosts corrected."""
        hosts = [a.host for a in self.live()]
        return self.db.transaction(lambda s: instances.heal_usage(s, hosts)) if hosts else 0

    def resolve_deadlines(self) -> int:
        """Resolve every live host's rows whose task deadline passed; returns how many."""
        agents = {a.host: a for a in self.live()}
        if not agents:
            return 0
        now = utcnow()
        rows = self.db.transaction(lambda s: instances.past_deadline(s, list(agents), now))
        resolved = 0
        for row in rows:
            env = agents[row["host"]].env
            if env is not None and deadlines.resolve(env, row) is not None:
                resolved += 1
        return resolved

    def drivers(self) -> dict[str, ComputeDriver]:
        """Return {host: driver} of the live hosts."""
        return {a.host: a.env.driver for a in self.live() if a.env is not None}

    def poll_usage(self) -> None:
        """Sample every running guest of every live host and send the samples (its own thread)."""
        result = self.usage.poll()
        LOG.debug("metering: %d guests, %d samples in %d notifications", result.guests, result.samples,
                  result.notifications)

    def housekeeping(self) -> None:
        self.heal()
        self.resolve_deadlines()
