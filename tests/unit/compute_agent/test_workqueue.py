"""The work queue: per-key order, bounded parallelism, retries with backoff, giving up."""

from __future__ import annotations

import threading
import time

import pytest

from compute_agent.errors import TransientError
from compute_agent.workqueue import WorkQueue, backoff


@pytest.fixture
def queue():
    q = WorkQueue("test", workers=3, max_attempts=3, base_delay=0.01, max_delay=0.05)
    yield q
    q.stop()


def test_one_key_runs_in_order_and_never_concurrently(queue):
    running, seen, overlaps = [0], [], []
    lock = threading.Lock()

    def job(i):
        def run():
            with lock:
                running[0] += 1
                overlaps.append(running[0])
            time.sleep(0.002)
            seen.append(i)
            with lock:
                running[0] -= 1
        return run

    for i in range(30):
        queue.submit("k", job(i))
    assert queue.join(5)
    assert seen == list(range(30)) and max(overlaps) == 1


def test_keys_run_in_parallel_up_to_the_pool_size(queue):
    lock, active, peak = threading.Lock(), [0], [0]
    gate = threading.Event()

    def job():
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        gate.wait(2)
        with lock:
            active[0] -= 1

    for i in range(6):
        queue.submit(f"k{i}", job)
    time.sleep(0.2)
    assert peak[0] == 3
    gate.set()
    assert queue.join(5)


def test_transient_failures_are_retried_then_given_up(queue):
    calls, given_up = [], []

    def flaky():
        calls.append(time.monotonic())
        raise TransientError("later")

    queue.submit("k", flaky, on_give_up=given_up.append)
    assert queue.join(5)
    assert len(calls) == 3 and len(given_up) == 1 and isinstance(given_up[0], TransientError)
    assert calls[2] - calls[1] >= calls[1] - calls[0] >= 0.009


def test_a_retry_that_succeeds_is_not_given_up(queue):
    calls, given_up = [], []

    def once_flaky():
        calls.append(1)
        if len(calls) == 1:
            raise TransientError("once")

    queue.submit("k", once_flaky, on_give_up=given_up.append)
    assert queue.join(5)
    assert len(calls) == 2 and given_up == []


def test_other_errors_are_given_up_at_once(queue):
    given_up, later = [], []
    queue.submit("k", lambda: (_ for _ in ()).throw(ValueError("bad")), on_give_up=given_up.append)
    queue.submit("k", lambda: later.append(1))
    assert queue.join(5)
    assert [type(e) for e in given_up] == [ValueError] and later == [1]


def test_backoff_doubles_up_to_its_cap():
    assert [backoff(n, 0.5, 3.0) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_busy_reports_pending_work(queue):
    gate = threading.Event()
    queue.submit("k", lambda: gate.wait(2))
    assert queue.busy("k") and not queue.busy("other")
    gate.set()
    assert queue.join(5) and not queue.busy("k")
