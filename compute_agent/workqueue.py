"""A bounded pool of workers with per-key serialization and bounded retries.

Work on one instance (its uuid is the key) never runs concurrently, in
submission order; different instances run in parallel on at most ``workers``
threads. A job that fails with a transient error is requeued after an
exponential backoff, up to ``max_attempts`` runs; then, or at once for other
errors, its ``on_give_up`` is called with the exception.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from compute_agent.errors import is_transient

LOG = logging.getLogger(__name__)


@dataclass
class Job:
    key: str
    fn: Callable[[], None]
    what: str
    on_give_up: Callable[[BaseException], None] | None = None
    attempts: int = 0


@dataclass(order=True)
class _Delayed:
    due: float
    seq: int
    job: Job = field(compare=False)


def backoff(attempt: int, base: float, cap: float) -> float:
    """Return the delay before retry number ``attempt`` (1-based): base * 2^(attempt-1), capped."""
    return min(cap, base * 2 ** (attempt - 1))


class WorkQueue:
    def __init__(self, name: str, workers: int, max_attempts: int = 5, base_delay: float = 0.5,
                 max_delay: float = 30.0,
                 transient: Callable[[BaseException], bool] = is_transient) -> None:
        self.name = name
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._transient = transient
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._cond = threading.Condition()
        self._pending: dict[str, deque[Job]] = {}
        self._delayed: list[_Delayed] = []
        self._seq = itertools.count()
        self._outstanding = 0
        self._stopped = False
        self._timer: threading.Thread | None = None

    # --- submitting --------------------------------------------------------------

    def submit(self, key: str, fn: Callable[[], None], what: str = "",
               on_give_up: Callable[[BaseException], None] | None = None) -> None:
        """Queue ``fn`` to run after every earlier job of ``key``."""
        with self._cond:
            if self._stopped:
                LOG.warning("%s: stopped, dropping %s for %s", self.name, what, key)
                return
            self._outstanding += 1
            self._enqueue(Job(key, fn, what or getattr(fn, "__name__", "job"), on_give_up))

    def _enqueue(self, job: Job) -> None:
        # Caller holds the lock. A key with pending work already has a drainer running.
        queue = self._pending.get(job.key)
        if queue is not None:
            queue.append(job)
            return
        self._pending[job.key] = deque([job])
        self._pool.submit(self._drain, job.key)

    def busy(self, key: str) -> bool:
        """True if ``key`` has work queued or running."""
        with self._cond:
            return key in self._pending

    # --- running -----------------------------------------------------------------

    def _drain(self, key: str) -> None:
        with self._cond:
            queue = self._pending[key]
            if not queue:
                del self._pending[key]
                return
            job = queue[0]
        while True:
            finished = self._run(job)
            # One critical section: a waiter in join() never sees the key still pending.
            with self._cond:
                queue.popleft()
                if not queue:
                    del self._pending[key]
                if finished:
                    self._outstanding -= 1
                    self._cond.notify_all()
                if not queue:
                    return
                job = queue[0]

    def _run(self, job: Job) -> bool:
        """Run one job; True if it is finished (done or given up), False if it will be retried."""
        job.attempts += 1
        try:
            job.fn()
        except Exception as exc:  # noqa: BLE001 - every failure is either retried or given up on
            if self._transient(exc) and job.attempts < self.max_attempts and not self._stopped:
                delay = backoff(job.attempts, self.base_delay, self.max_delay)
                LOG.warning("%s for %s failed (attempt %d/%d), retrying in %.1fs: %s",
                            job.what, job.key, job.attempts, self.max_attempts, delay, exc)
                self._retry_later(job, delay)
                return False
            LOG.error("%s for %s failed after %d attempt(s): %s", job.what, job.key,
                      job.attempts, exc, exc_info=not self._transient(exc))
            self._give_up(job, exc)
        return True

    def _give_up(self, job: Job, exc: BaseException) -> None:
        if job.on_give_up is None:
            return
        try:
            job.on_give_up(exc)
        except Exception:  # noqa: BLE001 - the deadline resolver is the backstop
            LOG.exception("giving up on %s for %s failed too", job.what, job.key)

    # --- retries -----------------------------------------------------------------

    def _retry_later(self, job: Job, delay: float) -> None:
        with self._cond:
            heapq.heappush(self._delayed, _Delayed(time.monotonic() + delay, next(self._seq), job))
            if self._timer is None:
                self._timer = threading.Thread(target=self._release_due, name=f"{self.name}-retry",
                                               daemon=True)
                self._timer.start()
            self._cond.notify_all()

    def _release_due(self) -> None:
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                while self._delayed and self._delayed[0].due <= now:
                    self._enqueue(heapq.heappop(self._delayed).job)
                timeout = self._delayed[0].due - now if self._delayed else None
                self._cond.wait(timeout)

    # --- lifecycle ---------------------------------------------------------------

    def join(self, timeout: float) -> bool:
        """Wait until no job is queued, running or waiting to retry; True if that happened."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._outstanding:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def stop(self) -> None:
        """Drop waiting retries, let running jobs finish, and stop the workers."""
        with self._cond:
            self._stopped = True
            self._outstanding -= len(self._delayed)
            self._delayed.clear()
            self._cond.notify_all()
        self._pool.shutdown(wait=True, cancel_futures=False)
