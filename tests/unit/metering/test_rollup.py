"""Rollup arithmetic (pure): covers, bucket splits, HS06 weighting, network counters."""

from __future__ import annotations

import datetime as dt

import pytest

from metering.collector.rollup import (
    NET_IN,
    NET_OUT,
    VCPUS,
    InstanceInfo,
    Point,
    Settings,
    bucket_index,
    bucket_start,
    compute,
    iso_hour,
    split,
    spread,
)

S = 1_000_000
HOUR, POLL = 3600, 300
SETTINGS = Settings.of(HOUR, POLL)
INFO = InstanceInfo("proj", "user", "3", "m1.medium", 2, 4096, 40, launched_us=1000 * S, host="hv-a")


def vcpus(t: float, n: int = 2, host: str = "hv-a", interval: float | None = None) -> Point:
    return Point(round(t * S), VCPUS, "i-1", n, host, round(interval * S) if interval else None)


def nic(t: float, value: int, name: str = NET_IN, device: str = "tap0") -> Point:
    return Point(round(t * S), name, f"i-1-{device}", value)


def totals(rows, key):
    return sum(r.values[key] for r in rows.values())


def test_vcpu_hours_are_the_lifetime_up_to_the_last_poll_times_vcpus_split_over_buckets():
    # Launched at 1000 s, polled every 300 s from 1200 s; the last poll at 10200 s.
    polls = [1200 + POLL * i for i in range(31)]
    rows = compute([vcpus(t) for t in polls], INFO, {"hv-a": 10.0}, SETTINGS)
    assert sorted(rows) == [0, 1, 2]
    assert totals(rows, "seconds") == pytest.approx(10200 - 1000)
    assert totals(rows, "vcpu_hours") == pytest.approx(2 * (10200 - 1000) / HOUR)
    # Bucket 0 is [0, 3600): covered from launch (1000 s) on.
    assert rows[0].values["seconds"] == pytest.approx(2600)
    assert rows[1].values["seconds"] == pytest.approx(3600)
    assert rows[1].values["vcpu_hours"] == pytest.approx(2.0)
    assert rows[1].values["ram_gb_hours"] == pytest.approx(4.0)
    assert rows[1].values["disk_gb_hours"] == pytest.approx(40.0)
    assert rows[1].values["hs06_hours"] == pytest.approx(20.0)
    assert rows[1].values["samples"] == 12
    assert rows[2].values["seconds"] == pytest.approx(10200 - 7200)


def test_a_poll_covers_at_most_its_interval_after_a_gap():
    # Two polls an hour apart: the second covers only the interval (and a tenth) before it.
    rows = compute([vcpus(1200), vcpus(4800)], INFO, {"hv-a": 10.0}, SETTINGS)
    assert totals(rows, "seconds") == pytest.approx(200 + 330)
    # An interval carried by the sample wins over the collector's setting (up to twice it).
    rows = compute([vcpus(1200), vcpus(4800, interval=500)], INFO, {"hv-a": 10.0}, SETTINGS)
    assert totals(rows, "seconds") == pytest.approx(200 + 550)
    rows = compute([vcpus(1200), vcpus(4800, interval=5000)], INFO, {"hv-a": 10.0}, SETTINGS)
    assert totals(rows, "seconds") == pytest.approx(200 + 660)


def test_polls_a_little_late_lose_nothing():
    polls = [1000 + 303 * i for i in range(1, 13)]
    rows = compute([vcpus(t) for t in polls], INFO, {"hv-a": 10.0}, SETTINGS)
    assert totals(rows, "seconds") == pytest.approx(polls[-1] - 1000)


def test_a_cover_across_a_bucket_boundary_is_split_pro_rata():
    rows = compute([vcpus(3400), vcpus(3700)], InstanceInfo(launched_us=3300 * S),
                   {"hv-a": 10.0}, SETTINGS)
    assert rows[0].values["seconds"] == pytest.approx(300)  # (3300, 3400] and (3400, 3600]
    assert rows[1].values["seconds"] == pytest.approx(100)
    assert rows[0].values["samples"] == 1 and rows[1].values["samples"] == 1


def test_hs06_hours_weigh_each_interval_by_its_hosts_cores():
    # 6 polls on a host of 10 HS06 per core, then 6 on one of 20 after a migration.
    points = [vcpus(3600 + 300 * i, host="hv-a") for i in range(1, 7)]
    points += [vcpus(3600 + 300 * i, host="hv-b") for i in range(7, 13)]
    rows = compute(points, InstanceInfo(launched_us=3600 * S), {"hv-a": 10.0, "hv-b": 20.0}, SETTINGS)
    row = rows[1].values
    assert row["vcpu_hours"] == pytest.approx(2.0)
    assert row["hs06_hours"] == pytest.approx(2 * 0.5 * 10 + 2 * 0.5 * 20)
    assert row["hs06_per_core"] == pytest.approx(15.0)
    assert row["host"] == "hv-b"
    assert not rows[1].missing_hosts
    unknown = compute(points, InstanceInfo(launched_us=3600 * S), {"hv-a": 10.0}, SETTINGS)
    assert unknown[1].missing_hosts == {"hv-b"}
    assert unknown[1].values["hs06_hours"] == pytest.approx(10.0)


def test_network_bytes_sum_increases_and_count_a_restarted_counter_from_zero():
    launched = InstanceInfo(launched_us=1000 * S)
    values = [100, 300, 600, 50, 150]  # the guest restarted before the fourth poll
    points = [nic(1200 + 300 * i, v) for i, v in enumerate(values)]
    points += [nic(1200 + 300 * i, 10 * v, NET_OUT) for i, v in enumerate(values)]
    rows = compute(points, launched, {}, SETTINGS)
    assert totals(rows, "net_in_bytes") == 100 + 200 + 300 + 50 + 100
    assert totals(rows, "net_out_bytes") == 10 * (100 + 200 + 300 + 50 + 100)
    assert all(isinstance(r.values["net_in_bytes"], int) for r in rows.values())


def test_network_counters_per_nic_and_a_gap_makes_a_new_baseline():
    launched = InstanceInfo(launched_us=1000 * S)
    points = [nic(1200, 10), nic(1500, 30), nic(1200, 5, device="tap1"), nic(1500, 7, device="tap1")]
    # An hour without samples: the next one is a new baseline, then increases count again.
    points += [nic(5100, 1000), nic(5400, 1100)]
    rows = compute(points, launched, {}, SETTINGS)
    assert totals(rows, "net_in_bytes") == 30 + 7 + 100
    # Long after launch, the first sample seen is a baseline too.
    assert totals(compute([nic(9000, 500), nic(9300, 600)], launched, {}, SETTINGS),
                  "net_in_bytes") == 100


def test_network_bytes_follow_the_cover_over_bucket_boundaries_exactly():
    rows = compute([nic(3300, 0), nic(3900, 1001)], InstanceInfo(launched_us=0),
                   {}, Settings.of(HOUR, 600))
    assert rows[0].values["net_in_bytes"] + rows[1].values["net_in_bytes"] == 1001
    assert rows[0].values["net_in_bytes"] == 500


def test_without_metadata_the_owner_comes_from_the_samples():
    p = Point(1200 * S, VCPUS, "i-1", 1, "hv-a", None, "proj-x", "user-x")
    rows = compute([p], None, {"hv-a": 1.0}, SETTINGS)
    assert rows[0].values["project_id"] == "proj-x" and rows[0].values["seconds"] == pytest.approx(330)


def test_split_and_spread_are_exact():
    assert split(0, 10, 4) == [(0, 4), (1, 4), (2, 2)]
    assert split(4, 4, 4) == []
    assert spread(10, [(0, 1), (1, 1), (2, 1)]) == [(0, 3), (1, 3), (2, 4)]
    assert sum(s for _k, s in spread(7919, split(13, 1000, 97))) == 7919


def test_bucket_times():
    hour = 3600 * S
    start = bucket_start(bucket_index(bucket_start(493_000, hour), hour), hour)
    assert start == dt.datetime(1970, 1, 1) + dt.timedelta(hours=493_000)
    assert iso_hour(dt.datetime(2026, 11, 21, 10)) == "2026-11-21T10:00:00Z"
    assert iso_hour(bucket_start(3, 1_500_000)) == "1970-01-01T00:00:04.500000Z"
