"""Weighers as tables, and the evenness of spread over many identical hosts."""

from __future__ import annotations

import datetime as dt
import statistics

import pytest

from scheduler import weighers
from scheduler.filters import RequestSpec, default_filters, filter_hosts
from scheduler.host_state import Usage
from tests.unit.scheduler.helpers import cell_conf, host


@pytest.mark.parametrize(("hosts", "expected"), [
    # most free RAM as a fraction of the host's RAM wins
    ([host(1, memory_mb_used=1024), host(2, memory_mb_used=0)], 2),
    # fraction, not absolute: a half-empty big host loses to an empty small one
    ([host(1, memory_mb=131072, memory_mb_used=65536), host(2, memory_mb=8192)], 2),
    # equal RAM: fewest vCPUs used wins
    ([host(1, vcpus_used=3), host(2, vcpus_used=1), host(3, vcpus_used=2)], 2),
    # RAM decides before vCPUs
    ([host(1, vcpus_used=0, memory_mb_used=512), host(2, vcpus_used=8)], 2),
])
def test_spread_prefers(hosts, expected):
    assert weighers.best(hosts, weighers.get_weigher("spread")).id == expected


@pytest.mark.parametrize(("hosts", "expected"), [
    # least free RAM (best fit) wins
    ([host(1, memory_mb_used=1024), host(2, memory_mb_used=4096)], 2),
    # absolute MB: the small host with less room left is the better fit
    ([host(1, memory_mb=131072, memory_mb_used=65536), host(2, memory_mb=8192)], 2),
    # equal RAM: most vCPUs used wins
    ([host(1, vcpus_used=3), host(2, vcpus_used=5), host(3, vcpus_used=2)], 2),
])
def test_pack_prefers(hosts, expected):
    assert weighers.best(hosts, weighers.get_weigher("pack")).id == expected


def test_best_of_nothing_is_none():
    assert weighers.best([], weighers.get_weigher("spread"), weighers.TieBreaker(1)) is None


def test_unknown_weigher_raises():
    with pytest.raises(KeyError):
        weighers.get_weigher("random")


def test_ranked_orders_best_first():
    hosts = [host(i, memory_mb_used=i * 100) for i in range(1, 8)]
    top = weighers.ranked(hosts, weighers.get_weigher("spread"), 3, weighers.TieBreaker(7))
    assert [h.id for h in top] == [1, 2, 3]


def test_tiebreak_differs_between_schedulers_but_is_stable():
    hosts = [host(i) for i in range(1, 50)]
    w = weighers.get_weigher("spread")
    a, b = weighers.TieBreaker(1), weighers.TieBreaker(2)
    assert weighers.best(hosts, w, a) is weighers.best(hosts, w, a)
    assert weighers.best(hosts, w, a) is not weighers.best(hosts, w, b)


def simulate(weigher_name: str, n_hosts: int, n_requests: int, usage: Usage,
             seed: int = 3) -> list[int]:
    """Place requests one after another in memory, as the scheduler does; returns VMs per host."""
    conf = cell_conf(weigher=weigher_name)
    now = dt.datetime(2030, 1, 1)
    hosts = [host(i, last_seen_at=now) for i in range(n_hosts)]
    flt, weigher, tie = default_filters(conf), weighers.get_weigher(weigher_name), weighers.TieBreaker(seed)
    spec = RequestSpec(usage, now)
    for _ in range(n_requests):
        chosen = weighers.best(filter_hosts(hosts, spec, flt), weigher, tie)
        assert chosen is not None
        chosen.add(usage)
    return [h.running_vms for h in hosts]


def test_spread_evenness_500_boots_on_100_hosts():
    counts = simulate("spread", 100, 500, Usage(2, 2048, 20))
    mean = statistics.mean(counts)
    assert sum(counts) == 500
    assert max(counts) <= 1.5 * mean
    assert max(counts) - min(counts) <= 1


@pytest.mark.parametrize("usage", [Usage(1, 512, 5), Usage(4, 8192, 40)])
def test_spread_evenness_small_and_large_flavors(usage):
    counts = simulate("spread", 100, 250, usage)
    assert max(counts) <= 1.5 * statistics.mean(counts)


def test_pack_fills_hosts_one_by_one():
    # 64 GB hosts, 8 GB flavor: 8 per host; 20 boots fill two hosts and start a third.
    counts = simulate("pack", 10, 20, Usage(1, 8192, 10))
    assert sorted(counts, reverse=True)[:3] == [8, 8, 4]
    assert sum(1 for c in counts if c) == 3
