"""Host identity and registration: who this agent is and the rows that say so.

Each agent has a host name and an identity uuid kept in its state directory,
so a restarted agent takes its host back at once. A second agent for the same
host is refused twice over: by a file lock on the same machine, and by the
``services`` row when another identity heartbeated within service_down_time.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import uuid as uuid_mod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.config import CellConfig
from cells.db.cell_models import ComputeNode, Service
from cells.db.engine import Database, rowcount
from cells.db.types import utcnow
from compute_agent.errors import DuplicateHost
from compute_agent.paths import HostPaths
from compute_agent.virt.driver import HostFacts

BINARY = "cloud-compute"
SERVICES = cast(sa.Table, Service.__table__)
NODES = cast(sa.Table, ComputeNode.__table__)


def load_identity(paths: HostPaths) -> str:
    """Return this host's identity uuid, creating and saving one on first start."""
    try:
        with open(paths.identity) as f:
            return str(uuid_mod.UUID(f.read().strip()))
    except FileNotFoundError:
        pass
    except ValueError as exc:
        raise DuplicateHost(f"{paths.identity} does not hold a uuid: remove it to get a new identity") \
            from exc
    identity = str(uuid_mod.uuid4())
    os.makedirs(paths.root, mode=0o755, exist_ok=True)
    tmp = f"{paths.identity}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(identity + "\n")
    os.replace(tmp, paths.identity)
    return identity


class HostLock:
    """An exclusive lock on the host's state directory, held while the agent runs."""

    def __init__(self, paths: HostPaths, host: str) -> None:
        self.paths = paths
        self.host = host
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock; raises DuplicateHost if another agent of this machine holds it."""
        os.makedirs(self.paths.root, mode=0o755, exist_ok=True)
        handle = open(self.paths.lock, "a")  # noqa: SIM115 - held open for the agent's lifetime
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.close()
            raise DuplicateHost(
                f"host {self.host}: another cloud-compute already runs from {self.paths.root}") from exc
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


@dataclass(frozen=True)
class Registration:
    host: str
    identity: str
    facts: HostFacts
    local_gb: int


def _node_values(conf: CellConfig, reg: Registration, now: dt.datetime) -> dict[str, object]:
    return {
        "hypervisor_hostname": reg.facts.hypervisor_hostname,
        "hypervisor_type": reg.facts.hypervisor_type,
        "cpu_model": reg.facts.cpu_model,
        "vcpus": reg.facts.vcpus,
        "memory_mb": reg.facts.memory_mb,
        "local_gb": reg.local_gb,
        "cpu_allocation_ratio": conf.cpu_allocation_ratio,
        "ram_allocation_ratio": conf.ram_allocation_ratio,
        "disk_allocation_ratio": conf.disk_allocation_ratio,
        "hs06_per_core": conf.simulated_host.hs06_per_core,
        "updated_at": now,
    }


def _register(session: Session, conf: CellConfig, reg: Registration) -> None:
    now = utcnow()
    service = session.execute(
        sa.select(SERVICES.c.id, SERVICES.c.identity, SERVICES.c.last_seen_at)
        .where(SERVICES.c.host == reg.host, SERVICES.c.binary == BINARY)
        .with_for_update()).first()
    if service is None:
        session.execute(sa.insert(SERVICES).values(
            host=reg.host, binary=BINARY, identity=reg.identity, disabled=False,
            last_seen_at=now, created_at=now))
    else:
        age = (now - service.last_seen_at).total_seconds()
        if service.identity != reg.identity and age < conf.service_down_time:
            raise DuplicateHost(
                f"host {reg.host} is served by another cloud-compute (identity {service.identity}, "
                f"seen {age:.0f}s ago); stop it or wait {conf.service_down_time:.0f}s after it stops")
        session.execute(sa.update(SERVICES).where(SERVICES.c.id == service.id)
                        .values(identity=reg.identity, last_seen_at=now))
    values = _node_values(conf, reg, now)
    updated = session.execute(sa.update(NODES).where(NODES.c.host == reg.host).values(**values))
    if rowcount(updated) == 0:
        session.execute(sa.insert(NODES).values(
            host=reg.host, vcpus_used=0, memory_mb_used=0, local_gb_used=0, running_vms=0,
            generation=0, **values))


def register(db: Database, conf: CellConfig, reg: Registration) -> None:
    """Upsert this host's ``services`` and ``compute_nodes`` rows from the hypervisor's facts.

    Raises DuplicateHost if another identity serves the host and is alive.
    Usage counters are left to the heal, which recomputes them from rows.
    """
    try:
        db.transaction(lambda session: _register(session, conf, reg))
    except sa.exc.IntegrityError as exc:
        # Two agents inserted the same host at the same moment: the other one won.
        raise DuplicateHost(f"host {reg.host} was registered by another cloud-compute just now") from exc


def heartbeat(db: Database, identities: Mapping[str, str]) -> set[str]:
    """Mark the hosts ({host: identity}) alive; returns the hosts whose row another identity took."""
    if not identities:
        return set()
    now = utcnow()

    def beat(session: Session) -> set[str]:
        seen = rowcount(session.execute(
            sa.update(SERVICES)
            .where(SERVICES.c.binary == BINARY, SERVICES.c.identity.in_(list(identities.values())))
            .values(last_seen_at=now)))
        session.execute(sa.update(NODES).where(NODES.c.host.in_(list(identities)))
                        .values(updated_at=now))
        if seen == len(identities):
            return set()
        owners = dict(session.execute(
            sa.select(SERVICES.c.host, SERVICES.c.identity)
            .where(SERVICES.c.binary == BINARY, SERVICES.c.host.in_(list(identities)))).all())
        return {host for host, ident in identities.items() if owners.get(host) != ident}

    return db.transaction(beat)
