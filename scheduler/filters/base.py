"""What a host filter is: a pure predicate on a host's state and a request."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from scheduler.host_state import HostState, Usage


@dataclass(frozen=True)
class RequestSpec:
    """What one build asks of a host, and the time the decision is made at."""

    usage: Usage
    now: dt.datetime


class HostFilter(Protocol):
    """Keeps the hosts able to take a request; a filter never touches I/O."""

    name: str

    def host_passes(self, host: HostState, spec: RequestSpec) -> bool:
        """Return True if ``host`` may take ``spec``."""
        ...
