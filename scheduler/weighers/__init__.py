"""Host weighers: which of the hosts that pass the filters to take first.

``conf.weigher`` names one (``spread`` or ``pack``). Ties are broken by a
per-scheduler random rank of each host, so two schedulers of one cell facing
identical hosts do not both go for the same one.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable

from scheduler.host_state import HostState
from scheduler.weighers.base import Weigher
from scheduler.weighers.pack import PackWeigher
from scheduler.weighers.spread import SpreadWeigher

__all__ = ["TieBreaker", "Weigher", "best", "get_weigher"]

WEIGHERS: dict[str, type[SpreadWeigher] | type[PackWeigher]] = {
    "spread": SpreadWeigher,
    "pack": PackWeigher,
}


def get_weigher(name: str) -> Weigher:
    """Return the weigher called ``name``; raises KeyError for an unknown one."""
    return WEIGHERS[name]()


class TieBreaker:
    """A stable random rank per host id, different for every scheduler instance."""

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)
        self._ranks: dict[int, float] = {}

    def __call__(self, host: HostState) -> float:
        rank = self._ranks.get(host.id)
        if rank is None:
            rank = self._ranks[host.id] = self._random.random()
        return rank


def best(hosts: Iterable[HostState], weigher: Weigher, tiebreak: TieBreaker | None = None,
         ) -> HostState | None:
    """Return the highest-ranked host, or None if ``hosts`` is empty."""
    if tiebreak is None:
        return max(hosts, key=weigher.key, default=None)
    return max(hosts, key=lambda h: (*weigher.key(h), tiebreak(h)), default=None)


def ranked(hosts: Iterable[HostState], weigher: Weigher, n: int,
           tiebreak: TieBreaker | None = None) -> list[HostState]:
    """Return the ``n`` highest-ranked hosts, best first."""
    if tiebreak is None:
        return heapq.nlargest(n, hosts, key=weigher.key)
    return heapq.nlargest(n, hosts, key=lambda h: (*weigher.key(h), tiebreak(h)))
