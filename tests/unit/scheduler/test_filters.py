"""Host filters as tables: (host state, request) -> passes?"""

from __future__ import annotations

import datetime as dt

import pytest

from scheduler.filters import RequestSpec, default_filters, filter_hosts
from scheduler.filters.disk import DiskFilter
from scheduler.filters.enabled import EnabledFilter
from scheduler.filters.ram import RamFilter
from scheduler.filters.up import UpFilter
from scheduler.filters.vcpu import VcpuFilter
from scheduler.host_state import Usage
from tests.unit.scheduler.helpers import cell_conf, host

NOW = dt.datetime(2030, 1, 1, 12, 0, 0)


def spec(vcpus: int = 1, ram: int = 512, disk: int = 5) -> RequestSpec:
    return RequestSpec(Usage(vcpus, ram, disk), NOW)


@pytest.mark.parametrize(("kw", "request_", "passes"), [
    # memory_mb * ram_allocation_ratio - used >= request
    ({"memory_mb": 4096}, spec(ram=4096), True),
    ({"memory_mb": 4096}, spec(ram=4097), False),
    ({"memory_mb": 4096, "memory_mb_used": 3584}, spec(ram=512), True),
    ({"memory_mb": 4096, "memory_mb_used": 3585}, spec(ram=512), False),
    ({"memory_mb": 4096, "memory_mb_used": 4096, "ram_allocation_ratio": 1.5}, spec(ram=2048), True),
    ({"memory_mb": 4096, "memory_mb_used": 4096, "ram_allocation_ratio": 1.5}, spec(ram=2049), False),
])
def test_ram_filter(kw, request_, passes):
    assert RamFilter().host_passes(host(1, **kw), request_) is passes


@pytest.mark.parametrize(("kw", "request_", "passes"), [
    ({"vcpus": 4, "cpu_allocation_ratio": 1.0}, spec(vcpus=4), True),
    ({"vcpus": 4, "cpu_allocation_ratio": 1.0}, spec(vcpus=5), False),
    ({"vcpus": 4, "cpu_allocation_ratio": 4.0, "vcpus_used": 15}, spec(vcpus=1), True),
    ({"vcpus": 4, "cpu_allocation_ratio": 4.0, "vcpus_used": 16}, spec(vcpus=1), False),
    ({"vcpus": 4, "cpu_allocation_ratio": 2.5, "vcpus_used": 8}, spec(vcpus=2), True),
    ({"vcpus": 4, "cpu_allocation_ratio": 2.5, "vcpus_used": 9}, spec(vcpus=2), False),
])
def test_vcpu_filter(kw, request_, passes):
    assert VcpuFilter().host_passes(host(1, **kw), request_) is passes


@pytest.mark.parametrize(("kw", "request_", "passes"), [
    ({"local_gb": 20}, spec(disk=20), True),
    ({"local_gb": 20}, spec(disk=21), False),
    ({"local_gb": 20, "local_gb_used": 15}, spec(disk=5), True),
    ({"local_gb": 20, "local_gb_used": 16}, spec(disk=5), False),
    ({"local_gb": 20, "local_gb_used": 20, "disk_allocation_ratio": 2.0}, spec(disk=20), True),
    ({"local_gb": 20}, spec(disk=0), True),
])
def test_disk_filter(kw, request_, passes):
    assert DiskFilter().host_passes(host(1, **kw), request_) is passes


@pytest.mark.parametrize(("disabled", "passes"), [(False, True), (True, False)])
def test_enabled_filter(disabled, passes):
    assert EnabledFilter().host_passes(host(1, disabled=disabled), spec()) is passes


@pytest.mark.parametrize(("last_seen", "passes"), [
    (NOW, True),
    (NOW - dt.timedelta(seconds=60), True),
    (NOW - dt.timedelta(seconds=61), False),
    (NOW + dt.timedelta(seconds=2), True),  # a host clock slightly ahead is still up
    (None, False),  # never heartbeated
])
def test_up_filter(last_seen, passes):
    assert UpFilter(60).host_passes(host(1, last_seen_at=last_seen), spec()) is passes


def test_default_filters_keep_only_hosts_passing_all():
    conf = cell_conf()
    hosts = [
        host(1, last_seen_at=NOW),
        host(2, last_seen_at=NOW, disabled=True),
        host(3, last_seen_at=NOW - dt.timedelta(seconds=conf.service_down_time + 1)),
        host(4, last_seen_at=NOW, memory_mb=256),
        host(5, last_seen_at=NOW, vcpus=1, cpu_allocation_ratio=1.0, vcpus_used=1),
        host(6, last_seen_at=NOW, local_gb=1),
        host(7, last_seen_at=NOW),
    ]
    kept = [h.id for h in filter_hosts(hosts, spec(), default_filters(conf))]
    assert kept == [1, 7]
    assert [f.name for f in default_filters(conf)] == ["enabled", "up", "ram", "vcpu", "disk"]


def test_filters_agree_with_fits():
    # The in-memory filters and the claim's SQL condition (mirrored by HostState.fits) must agree.
    conf = cell_conf()
    filters = [f for f in default_filters(conf) if f.name in ("ram", "vcpu", "disk")]
    for used in range(0, 70, 3):
        h = host(1, vcpus=4, vcpus_used=used % 17, memory_mb=4096, memory_mb_used=used * 60,
                 local_gb=40, local_gb_used=used // 2)
        for s in (spec(1, 512, 5), spec(4, 2048, 10), spec(8, 100, 0)):
            assert all(f.host_passes(h, s) for f in filters) is h.fits(s.usage)
