"""Host filters: which hosts of the cell may take a request.

Filters are pure predicates over ``HostState``; cheap ones (flags) run
before arithmetic ones so most rejected hosts cost one attribute read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from cells.config import CellConfig
from scheduler.filters.base import HostFilter, RequestSpec
from scheduler.filters.disk import DiskFilter
from scheduler.filters.enabled import EnabledFilter
from scheduler.filters.ram import RamFilter
from scheduler.filters.up import UpFilter
from scheduler.filters.vcpu import VcpuFilter
from scheduler.host_state import HostState

__all__ = ["HostFilter", "RequestSpec", "default_filters", "filter_hosts"]


def default_filters(conf: CellConfig) -> list[HostFilter]:
    """Return the filters every build request goes through, cheapest first."""
    return [EnabledFilter(), UpFilter(conf.service_down_time), RamFilter(), VcpuFilter(), DiskFilter()]


def filter_hosts(hosts: Iterable[HostState], spec: RequestSpec,
                 filters: Sequence[HostFilter]) -> Iterator[HostState]:
    """Yield the hosts that pass every filter."""
    # A plain loop: this runs for every host on every request.
    for host in hosts:
        for f in filters:
            if not f.host_passes(host, spec):
                break
        else:
            yield host
