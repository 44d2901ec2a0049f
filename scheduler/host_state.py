"""Every host of a compute cell, kept in memory for the host scheduler.

One SELECT (compute nodes joined with their compute service) refreshes the
whole cell every ``scheduler.refresh_interval``; between refreshes the
scheduler's own claims update the copy in memory, so consecutive requests see
each other without reading the database. The copy may lag behind what other
schedulers claimed: the conditional UPDATE in ``claims`` is what guarantees a
host is never over-committed, and a failed claim re-reads that one host.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.db.cell_models import ComputeNode, Service

# The binary under which cloud-compute registers its service row (same host as its compute node).
COMPUTE_BINARY = "cloud-compute"


@dataclass(frozen=True)
class Usage:
    """What one instance takes from a host."""

    vcpus: int
    memory_mb: int
    disk_gb: int

    @classmethod
    def of_flavor(cls, flavor: Mapping[str, Any]) -> Usage:
        """Return what a flavor dict (``vcpus``, ``ram``, ``disk``) takes; KeyError/ValueError if bad."""
        return cls(int(flavor["vcpus"]), int(flavor["ram"]), int(flavor.get("disk") or 0))


@dataclass
class HostState:
    """One compute node as the scheduler sees it: capacity, usage and service status."""

    id: int
    host: str
    vcpus: int
    memory_mb: int
    local_gb: int
    vcpus_used: int = 0
    memory_mb_used: int = 0
    local_gb_used: int = 0
    running_vms: int = 0
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    generation: int = 0
    disabled: bool = False
    last_seen_at: dt.datetime | None = None
    hypervisor_type: str = ""

    @property
    def vcpus_limit(self) -> float:
        return self.vcpus * self.cpu_allocation_ratio

    @property
    def memory_mb_limit(self) -> float:
        return self.memory_mb * self.ram_allocation_ratio

    @property
    def local_gb_limit(self) -> float:
        return self.local_gb * self.disk_allocation_ratio

    @property
    def free_vcpus(self) -> float:
        return self.vcpus_limit - self.vcpus_used

    @property
    def free_ram_mb(self) -> float:
        return self.memory_mb_limit - self.memory_mb_used

    @property
    def free_disk_gb(self) -> float:
        return self.local_gb_limit - self.local_gb_used

    def fits(self, usage: Usage) -> bool:
        """True if ``usage`` fits under every limit (the same test the claim's UPDATE makes)."""
        return (self.vcpus_used + usage.vcpus <= self.vcpus_limit
                and self.memory_mb_used + usage.memory_mb <= self.memory_mb_limit
                and self.local_gb_used + usage.disk_gb <= self.local_gb_limit)

    def add(self, usage: Usage, count: int = 1) -> None:
        """Count ``count`` instances of ``usage`` as taken on this host (-1 gives one back)."""
        self.vcpus_used += count * usage.vcpus
        self.memory_mb_used += count * usage.memory_mb
        self.local_gb_used += count * usage.disk_gb
        self.running_vms += count


_COLUMNS = (
    ComputeNode.id, ComputeNode.host, ComputeNode.vcpus, ComputeNode.memory_mb, ComputeNode.local_gb,
    ComputeNode.vcpus_used, ComputeNode.memory_mb_used, ComputeNode.local_gb_used,
    ComputeNode.running_vms, ComputeNode.cpu_allocation_ratio, ComputeNode.ram_allocation_ratio,
    ComputeNode.disk_allocation_ratio, ComputeNode.generation, ComputeNode.hypervisor_type,
    Service.disabled, Service.last_seen_at,
)


def hosts_query() -> sa.Select[*tuple[Any, ...]]:
    """The one SELECT that reads every host with its service's status."""
    join = sa.and_(Service.host == ComputeNode.host, Service.binary == COMPUTE_BINARY)
    return sa.select(*_COLUMNS).select_from(ComputeNode).outerjoin(Service, join)


def from_row(row: Any) -> HostState:
    """Build a HostState from one row of ``hosts_query``."""
    return HostState(
        id=row.id, host=row.host, vcpus=row.vcpus, memory_mb=row.memory_mb, local_gb=row.local_gb,
        vcpus_used=row.vcpus_used, memory_mb_used=row.memory_mb_used,
        local_gb_used=row.local_gb_used, running_vms=row.running_vms,
        cpu_allocation_ratio=row.cpu_allocation_ratio, ram_allocation_ratio=row.ram_allocation_ratio,
        disk_allocation_ratio=row.disk_allocation_ratio, generation=row.generation,
        # A node without a service row has never heartbeated: treat it as disabled and down.
        disabled=True if row.disabled is None else bool(row.disabled),
        last_seen_at=row.last_seen_at, hypervisor_type=row.hypervisor_type,
    )


Transaction = Callable[[Callable[[Session], Any]], Any]


class HostStateCache:
    """Thread-safe in-memory view of a cell's hosts, refreshed from the database.

    ``reserve`` picks and takes a host in memory under one lock, so parallel
    requests of this process never pick the same last slot; ``commit`` or
    ``release`` settle the reservation once the database claim is known.
    Reservations not yet settled survive a refresh.
    """

    def __init__(self, transaction: Transaction) -> None:
        self._transaction = transaction
        self._lock = threading.Lock()
        self._hosts: dict[int, HostState] = {}
        self._pending: dict[int, list[Usage]] = {}
        self.loaded = False
        self._refreshed_at = 0.0

    def refresh(self) -> int:
        """Re-read every host with one SELECT; returns the number of hosts."""
        rows = self._transaction(lambda s: s.execute(hosts_query()).all())
        with self._lock:
            fresh: dict[int, HostState] = {}
            for row in rows:
                fresh[row.id] = self._merge(from_row(row))
            self._hosts = fresh
            self.loaded = True
            self._refreshed_at = time.monotonic()
            return len(fresh)

    def refresh_if_older_than(self, seconds: float) -> bool:
        """Re-read every host unless that was done in the last ``seconds``; True if it was."""
        if time.monotonic() - self._refreshed_at < seconds:
            return False
        self.refresh()
        return True

    def refresh_host(self, host_id: int) -> HostState | None:
        """Re-read one host (one SELECT); returns its state, or None if it is gone."""
        query = hosts_query().where(ComputeNode.id == host_id)
        row = self._transaction(lambda s: s.execute(query).first())
        with self._lock:
            if row is None:
                self._hosts.pop(host_id, None)
                return None
            state = self._merge(from_row(row), force=True)
            self._hosts[host_id] = state
            return state

    def _merge(self, state: HostState, force: bool = False) -> HostState:
        # A row older than what we know (our own commits bump the generation) is a
        # read that started before our last claim: keep ours rather than forget it.
        old = self._hosts.get(state.id)
        if old is not None and not force and old.generation > state.generation:
            old.disabled, old.last_seen_at = state.disabled, state.last_seen_at
            return old
        for usage in self._pending.get(state.id, ()):
            state.add(usage)
        return state

    def ensure_loaded(self) -> None:
        """Refresh once if nothing was read yet (a request before the first periodic refresh)."""
        if not self.loaded:
            self.refresh()

    def hosts(self) -> list[HostState]:
        """Return a snapshot list of the host states (the objects themselves, not copies)."""
        with self._lock:
            return list(self._hosts.values())

    def reserve(self, choose: Callable[[Iterable[HostState]], HostState | None],
                usage: Usage, exclude: set[int]) -> HostState | None:
        """Choose a host among those not in ``exclude`` and take ``usage`` on it in memory.

        Returns the host (a reservation to settle with ``commit`` or ``release``)
        or None when ``choose`` finds none.
        """
        with self._lock:
            candidates = (h for h in self._hosts.values() if h.id not in exclude)
            host = choose(candidates)
            if host is None:
                return None
            host.add(usage)
            self._pending.setdefault(host.id, []).append(usage)
            return host

    def commit(self, host: HostState, usage: Usage) -> None:
        """The database claim succeeded: the reservation becomes part of the host's usage."""
        with self._lock:
            self._unpend(host.id, usage)
            # The state in memory already counts the reservation (a refresh re-adds
            # pending ones). If it is still the state we reserved on, our UPDATE made
            # the row newer than it: bump its generation so an older read cannot
            # replace it. A state refreshed meanwhile is left as read (it may count us
            # twice); the next refresh replaces it.
            if self._hosts.get(host.id) is host:
                host.generation += 1

    def release(self, host: HostState, usage: Usage) -> None:
        """The database claim failed: give the reservation back."""
        with self._lock:
            self._unpend(host.id, usage)
            current = self._hosts.get(host.id)
            if current is not None:
                current.add(usage, -1)

    def _unpend(self, host_id: int, usage: Usage) -> None:
        pending = self._pending.get(host_id)
        if pending:
            pending.remove(usage)
            if not pending:
                del self._pending[host_id]
