"""The agent's usage poll: every running guest of every host of the process, sampled and sent.

It runs on its own periodic thread, never on the work queue, so a slow
hypervisor delays the samples, not the guests' work. A guest that vanishes
or fails to answer is left out of this poll; the others still go out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells import states
from cells.db.engine import Database
from compute_agent.instances import INSTANCES
from compute_agent.virt.driver import ComputeDriver, HypervisorError, InstanceNotFound
from metering.pollsters.notifier import SampleNotifier
from metering.pollsters.samples import Owner, Pollster

LOG = logging.getLogger(__name__)


def owners(session: Session, hosts: Sequence[str]) -> dict[str, Owner]:
    """Return {uuid: Owner} of the live instances of ``hosts``."""
    query = sa.select(INSTANCES.c.uuid, INSTANCES.c.project_id, INSTANCES.c.user_id).where(
        INSTANCES.c.host.in_(hosts), INSTANCES.c.deleted == sa.false())
    return {r.uuid: Owner(r.project_id, r.user_id) for r in session.execute(query)}


@dataclass(frozen=True)
class PollResult:
    guests: int
    samples: int
    notifications: int
    failed: tuple[str, ...]  # guests listed but not sampled (vanished or not answering)


class UsagePoller:
    """Samples the guests of the hosts ``drivers()`` returns ({host: driver}) and sends the samples."""

    def __init__(self, db: Database, drivers: Callable[[], Mapping[str, ComputeDriver]],
                 notifier: SampleNotifier, pollster: Pollster | None = None) -> None:
        self.db = db
        self._drivers = drivers
        self._notifier = notifier
        self._pollster = pollster or Pollster()

    def poll(self) -> PollResult:
        """Sample every running guest once and send the samples; returns what was done."""
        drivers = dict(self._drivers())
        if not drivers:
            return PollResult(0, 0, 0, ())
        known = self.db.transaction(lambda s: owners(s, list(drivers)))
        samples: list[dict[str, object]] = []
        sampled: list[str] = []
        failed: list[str] = []
        for host, driver in drivers.items():
            try:
                domains = driver.list_instances()
            except HypervisorError as exc:
                LOG.warning("host %s: cannot list guests for metering: %s", host, exc)
                continue
            for uuid, power in domains.items():
                owner = known.get(uuid)
                if power != states.RUNNING or owner is None:
                    continue  # stopped, or not (or no longer) an instance of this host
                try:
                    counters = driver.guest_counters(uuid)
                except InstanceNotFound:
                    LOG.debug("host %s: instance %s vanished while polled", host, uuid)
                    failed.append(uuid)
                    continue
                except Exception as exc:  # noqa: BLE001 - one guest must not cost the others' samples
                    LOG.warning("host %s: cannot read counters of %s: %s", host, uuid, exc)
                    failed.append(uuid)
                    continue
                if counters is None:
                    continue
                samples.extend(self._pollster.samples(host, counters.to_dict(), owner))
                sampled.append(uuid)
        self._pollster.forget([*sampled, *failed])  # a failed guest keeps its reading for the next rate
        sent = self._notifier.send(samples)
        return PollResult(len(sampled), len(samples), sent, tuple(failed))
