"""The pre-staging plan (scheduler.fanout), pure: order, source slots, depth and failures.

A small discrete-event simulation runs the plan with copies of given
durations and checks, at every start, that no source serves more copies than
it may and that a peer only serves once it holds the image.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from collections.abc import Callable

import pytest

from scheduler.fanout import ENDPOINT, Copy, FanOut

Duration = Callable[[Copy], float]


def hosts(n: int) -> list[str]:
    return [f"host-{i:03d}" for i in range(1, n + 1)]


def simulate(plan: FanOut, duration: Duration = lambda copy: 1.0) -> float:
    """Run every copy to its end (all succeed); returns when the last one ended."""
    clock, seq = 0.0, 0
    ends: list[tuple[float, int, Copy]] = []
    busy: Counter[str | None] = Counter()

    def start(copies: list[Copy]) -> None:
        nonlocal seq
        for copy in copies:
            busy[copy.source] += 1
            limit = plan.endpoint_copies if copy.source is ENDPOINT else plan.peer_copies
            assert busy[copy.source] <= limit, f"{copy.source} serves too many at {clock}"
            assert copy.source is ENDPOINT or copy.source in plan.done, "a peer served before it held it"
            if plan.max_running is not None:
                assert len(plan.running) <= plan.max_running
            seq += 1
            heapq.heappush(ends, (clock + duration(copy), seq, copy))

    start(plan.next_copies())
    while ends:
        clock, _, copy = heapq.heappop(ends)
        busy[copy.source] -= 1
        start(plan.finished_copy(copy.target, True, serves=True))
    assert plan.finished
    return clock


@pytest.mark.parametrize("count", [1, 2, 7, 50, 200])
def test_one_slot_per_source_doubles_the_hosts_every_round(count):
    plan = FanOut(hosts(count), endpoint_copies=1, peer_copies=1)
    rounds = simulate(plan)
    # After r rounds 2**r - 1 hosts hold the image: logarithmic, where one at a time takes `count`.
    assert rounds == math.ceil(math.log2(count + 1))
    assert plan.max_depth == rounds
    assert sorted(plan.done) == hosts(count) and not plan.failed


def test_fifty_hosts_from_two_endpoint_copies_take_five_rounds_instead_of_twenty_five():
    tree = FanOut(hosts(50), endpoint_copies=2, peer_copies=1)
    in_turn = FanOut(hosts(50), endpoint_copies=2, peer_copies=0)
    assert simulate(tree) == 5
    assert simulate(in_turn) == 25 and in_turn.max_depth == 1
    # Most copies came from peers, relieving the cell's endpoint.
    from_endpoint = sum(1 for how in tree.done.values() if how is ENDPOINT)
    assert 2 <= from_endpoint <= 10 and len(tree.done) == 50


@pytest.mark.parametrize("count", [10, 50, 300])
def test_two_copies_per_peer_triple_the_hosts_every_round(count):
    # n -> 3n + 1 per round (each holder serves two, the endpoint one).
    rounds = simulate(FanOut(hosts(count), endpoint_copies=1, peer_copies=2))
    assert rounds == math.ceil(math.log(2 * count + 1, 3))
    assert rounds < simulate(FanOut(hosts(count), endpoint_copies=1, peer_copies=1))


@pytest.mark.parametrize("seed", range(20))
def test_uneven_copy_times_keep_every_limit(seed):
    rng = random.Random(seed)
    speeds = {h: rng.uniform(0.2, 3.0) for h in hosts(60)}
    plan = FanOut(hosts(60), endpoint_copies=rng.randint(1, 3), peer_copies=rng.randint(0, 2),
                  max_running=rng.choice([None, 5, 16]))
    simulate(plan, lambda copy: speeds[copy.target])
    assert len(plan.done) == 60
    for target, source in plan.done.items():
        expected = 1 if source is ENDPOINT else plan.depth[source] + 1
        assert plan.depth[target] == expected


def test_first_copies_come_from_the_endpoint_then_peers_come_first():
    plan = FanOut(["a", "b", "c", "d", "e"], endpoint_copies=2, peer_copies=1)
    assert plan.next_copies() == [Copy("a", ENDPOINT), Copy("b", ENDPOINT)]
    assert plan.next_copies() == []  # every slot is taken
    # a is done: it serves the next host, and the endpoint's freed slot serves another.
    assert plan.finished_copy("a", True, serves=True) == [Copy("c", "a"), Copy("d", ENDPOINT)]
    # c is done: a (free again, and the earlier source) serves the last one.
    assert plan.finished_copy("c", True, serves=True) == [Copy("e", "a")]
    assert plan.depth == {"a": 1, "c": 2} and plan.peers() == ["a", "c"]


def test_a_peer_that_let_its_target_down_serves_no_more():
    plan = FanOut(["a", "b", "c", "d"], endpoint_copies=1, peer_copies=1)
    plan.next_copies()
    assert plan.finished_copy("a", True, serves=True) == [Copy("b", "a"), Copy("c", ENDPOINT)]
    # b fell back to the endpoint: it has the image (depth 1), a is retired as a source.
    assert plan.finished_copy("b", True, peer_failed=True, serves=True) == [Copy("d", "b")]
    assert plan.peers() == ["b"] and plan.done["b"] is ENDPOINT and plan.depth["b"] == 1


def test_failed_hosts_are_reported_and_serve_nobody():
    plan = FanOut(["a", "b", "c"], endpoint_copies=1, peer_copies=1)
    plan.fail_pending("c", "host is down")
    assert plan.next_copies() == [Copy("a", ENDPOINT)]
    assert plan.finished_copy("a", False, reason="disk full") == [Copy("b", ENDPOINT)]
    assert plan.finished_copy("b", True, serves=True) == []
    assert plan.finished and plan.failed == {"c": "host is down", "a": "disk full"}
    assert plan.peers() == ["b"]


def test_hosts_holding_the_image_already_count_as_depth_zero():
    plan = FanOut(["a", "b"], endpoint_copies=1, peer_copies=1)
    plan.next_copies()
    assert plan.finished_copy("a", True, cached=True, serves=True) == [Copy("b", "a")]
    plan.finished_copy("b", True, serves=True)
    assert plan.depth == {"a": 0, "b": 1} and plan.done == {"a": "", "b": "a"}


def test_a_host_that_cannot_serve_is_no_source():
    plan = FanOut(["a", "b"], endpoint_copies=1, peer_copies=1)
    plan.next_copies()
    assert plan.finished_copy("a", True, serves=False) == [Copy("b", ENDPOINT)]


def test_max_running_bounds_the_copies_in_flight():
    plan = FanOut(hosts(10), endpoint_copies=8, peer_copies=1, max_running=3)
    assert len(plan.next_copies()) == 3


def test_bad_limits_are_refused():
    with pytest.raises(ValueError):
        FanOut(["a"], endpoint_copies=0, peer_copies=1)
    with pytest.raises(ValueError):
        FanOut(["a"], endpoint_copies=1, peer_copies=-1)
