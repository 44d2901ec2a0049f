"""Which host copies an image from which source next: the plan of a pre-staging run. Pure, no I/O.

The sources are the cell's image endpoint, serving ``endpoint_copies`` copies at
once, and every host that already holds the image, serving ``peer_copies``
each. The plan is greedy: whenever a copy ends, every free source slot gets a
pending host at once, peers before the endpoint (which the whole cell shares).
Each finished host becoming a source, the number of hosts holding the image
about doubles every copy time, so a run takes about log2(hosts) copy times
where copying to each host in turn takes ``hosts / endpoint_copies``.

A host that fails is reported and serves nobody; a peer that let its target
down (the target fell back to the endpoint) is no longer used as a source.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass

# The source key of the cell's image endpoint (peers are keyed by host name).
ENDPOINT: str | None = None


@dataclass(frozen=True)
class Copy:
    """Copy the image to ``target`` from ``source`` (a host, or ENDPOINT)."""

    target: str
    source: str | None


class FanOut:
    """The state of one run: pending, running, done and failed hosts, and free source slots."""

    def __init__(self, targets: Iterable[str], endpoint_copies: int, peer_copies: int,
                 max_running: int | None = None) -> None:
        if endpoint_copies < 1:
            raise ValueError("the endpoint must serve at least one copy at a time")
        if peer_copies < 0:
            raise ValueError("peer_copies must be 0 or more")
        self.endpoint_copies = endpoint_copies
        self.peer_copies = peer_copies
        self.max_running = max_running
        self.pending: deque[str] = deque(dict.fromkeys(targets))
        self.running: dict[str, str | None] = {}
        # Target -> how it got the image: ENDPOINT, the peer's name, or "" if it held it already.
        self.done: dict[str, str | None] = {}
        self.failed: dict[str, str] = {}
        # Copies on the chain from the endpoint to each host done (0: it held the image).
        self.depth: dict[str, int] = {}
        self._busy: Counter[str | None] = Counter()
        self._peers: list[str] = []  # hosts serving, in the order they began to
        self._retired: set[str] = set()

    @property
    def finished(self) -> bool:
        return not self.pending and not self.running

    @property
    def max_depth(self) -> int:
        return max(self.depth.values(), default=0)

    def peers(self) -> list[str]:
        """Hosts currently usable as sources, in the order they became sources."""
        return [p for p in self._peers if p not in self._retired]

    def _free_source(self) -> tuple[bool, str | None]:
        # The least busy peer first, the earliest of equals: load spreads over the tree.
        best: str | None = None
        for peer in self.peers():
            if self._busy[peer] < self.peer_copies and (best is None or self._busy[peer] < self._busy[best]):
                best = peer
        if best is not None:
            return True, best
        if self._busy[ENDPOINT] < self.endpoint_copies:
            return True, ENDPOINT
        return False, None

    def next_copies(self) -> list[Copy]:
        """Start as many copies as free source slots (and ``max_running``) allow; returns them."""
        started: list[Copy] = []
        while self.pending and (self.max_running is None or len(self.running) < self.max_running):
            found, source = self._free_source()
            if not found:
                break
            target = self.pending.popleft()
            self.running[target] = source
            self._busy[source] += 1
            started.append(Copy(target, source))
        return started

    def fail_pending(self, target: str, reason: str) -> None:
        """Report a host that will not be copied to at all (down, say)."""
        self.pending.remove(target)
        self.failed[target] = reason

    def finished_copy(self, target: str, ok: bool, *, reason: str = "", cached: bool = False,
                      peer_failed: bool = False, serves: bool = False) -> list[Copy]:
        """Record the end of ``target``'s copy; returns the copies to start now.

        ``cached``: the target held the image already. ``peer_failed``: its peer
        source let it down (it fell back to the endpoint, or failed). ``serves``:
        the target may now serve others.
        """
        source = self.running.pop(target)
        self._busy[source] -= 1
        if peer_failed and source is not None:
            self._retired.add(source)
        if not ok:
            self.failed[target] = reason or "failed"
            return self.next_copies()
        if cached:
            self.done[target], self.depth[target] = "", 0
        elif source is None or peer_failed:
            self.done[target], self.depth[target] = ENDPOINT, 1
        else:
            self.done[target], self.depth[target] = source, self.depth.get(source, 0) + 1
        if serves and self.peer_copies > 0:
            self._peers.append(target)
        return self.next_copies()
