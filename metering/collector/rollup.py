"""Hourly usage of one instance from its raw samples (pure: no I/O, no clock).

Times are integer microseconds since the epoch. A bucket is ``hour_us`` long
and aligned to the epoch; bucket ``k`` is ``[k * hour_us, (k + 1) * hour_us)``.

- Each ``vcpus`` sample at ``t`` covers ``(max(previous vcpus sample, t - 1.1 x
  interval, launched_at), t]``, split pro rata over the buckets it spans.
  ``interval`` is the poll interval the sample carries (metadata ``interval``),
  else the collector's, clamped to ``max_interval``; the tenth more absorbs the
  polls' jitter.
- vCPU-hours: vcpus x covered time / bucket length; HS06-hours: the same times
  the HS06 per core of the sample's host; RAM and disk GB-hours: the flavor's
  RAM GiB and disk GB (root + ephemeral) x covered time / bucket length.
- Network bytes: per NIC counter, the increase since the previous sample of
  that counter taken at most two intervals before (a counter that went down
  restarted: its new value counts); with no such sample the value counts only
  on the instance's first poll (within two intervals of launch), otherwise the
  sample is a new baseline. The increase is spread over the same cover.

A row depends only on the samples of its bucket and up to 1.1 x ``max_interval``
after it, and on those samples' predecessors up to ``2 * max_interval``
earlier: the store reads that window, so the result is the same whichever
other buckets are recomputed with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

VCPUS = "vcpus"
NET_IN = "network.incoming.bytes"
NET_OUT = "network.outgoing.bytes"
ROLLED = (VCPUS, NET_IN, NET_OUT)  # the only meters a rollup reads
US = 1_000_000


@dataclass(frozen=True)
class Settings:
    """Bucket length and poll intervals, in microseconds."""

    hour_us: int
    default_interval_us: int
    max_interval_us: int

    @classmethod
    def of(cls, hour_seconds: float, poll_interval: float, max_interval: float | None = None) -> Settings:
        default = max(1, round(poll_interval * US))
        return cls(max(1, round(hour_seconds * US)), default,
                   max(default, round((max_interval or 2 * poll_interval) * US)))

    def interval(self, carried_us: int | None) -> int:
        """The cover limit of a sample that carried ``carried_us`` (None: the default)."""
        if carried_us is None or carried_us <= 0:
            return self.default_interval_us
        return min(carried_us, self.max_interval_us)

    @staticmethod
    def cover_us(interval_us: int) -> int:
        """The longest cover of a sample taken every ``interval_us``: 10% more for the polls' jitter
        (a poll that started a little late must not lose the difference)."""
        return interval_us + interval_us // 10

    def reach_before_us(self) -> int:
        """How far before a bucket the samples it depends on may lie."""
        return 2 * self.max_interval_us

    def reach_after_us(self) -> int:
        """How far after a bucket the samples that cover part of it may lie."""
        return self.cover_us(self.max_interval_us)


@dataclass(frozen=True)
class Point:
    """One stored sample a rollup reads."""

    t: int
    name: str
    resource_id: str
    volume: float
    host: str | None = None
    interval_us: int | None = None
    project_id: str | None = None
    user_id: str | None = None


@dataclass(frozen=True)
class InstanceInfo:
    """An instance's metadata from the cell-local API."""

    project_id: str | None = None
    user_id: str | None = None
    flavor_id: str | None = None
    flavor_name: str | None = None
    vcpus: int = 0
    ram_mb: int = 0
    disk_gb: int = 0
    launched_us: int | None = None
    host: str | None = None


@dataclass
class _Bucket:
    covered_us: int = 0
    vcpu_us: int = 0
    hs06_us: float = 0.0
    net_in: int = 0
    net_out: int = 0
    samples: int = 0
    vcpus: int = 0
    host: str | None = None
    last_t: int = -1
    hosts: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Rollup:
    """One instance's usage in one bucket; ``missing_hosts``: hosts whose HS06 was unknown."""

    bucket: int
    values: dict[str, Any]
    missing_hosts: frozenset[str] = frozenset()


def bucket_of_end(t: int, hour_us: int) -> int:
    """The bucket holding the last instant of a cover ending at ``t`` (covers are right-closed)."""
    return (t - 1) // hour_us


def split(start: int, end: int, hour_us: int) -> list[tuple[int, int]]:
    """Return (bucket, overlap in µs) of the interval ``(start, end]``, in time order."""
    if end <= start:
        return []
    parts = []
    k = start // hour_us
    while k * hour_us < end:
        overlap = min(end, (k + 1) * hour_us) - max(start, k * hour_us)
        if overlap > 0:
            parts.append((k, overlap))
        k += 1
    return parts


def spread(amount: int, parts: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Split an integer ``amount`` over ``parts`` pro rata, exactly (the last part takes the rest)."""
    total = sum(overlap for _k, overlap in parts)
    shares, given, cumulative = [], 0, 0
    for k, overlap in parts:
        cumulative += overlap
        upto = amount * cumulative // total
        shares.append((k, upto - given))
        given = upto
    return shares


def _cover_start(t: int, interval: int, launched: int | None, previous: int | None) -> int:
    start = t - Settings.cover_us(interval)
    if launched is not None:
        start = max(start, launched)
    if previous is not None:
        start = max(start, previous)
    return start


def _by_time(points: Iterable[Point]) -> list[Point]:
    return sorted(points, key=lambda p: (p.t, p.resource_id))


def compute(points: Iterable[Point], info: InstanceInfo | None, hs06: Mapping[str, float],
            settings: Settings) -> dict[int, Rollup]:
    """Return {bucket: Rollup} of every bucket the samples contribute to.

    Only buckets whose whole window the caller read are exact (see the module docstring).
    """
    hour = settings.hour_us
    points = list(points)
    if info is None:
        # Not (yet) known to the cell-local API: the owner the agents stamped on the samples.
        owned = [p for p in points if p.project_id]
        latest = max(owned, key=lambda p: p.t) if owned else None
        info = InstanceInfo(project_id=latest.project_id, user_id=latest.user_id) if latest else None
    launched = info.launched_us if info else None
    buckets: dict[int, _Bucket] = {}
    vcpu_points: list[Point] = []
    nics: dict[tuple[str, str], list[Point]] = {}
    for p in points:
        if p.name == VCPUS:
            vcpu_points.append(p)
        elif p.name in (NET_IN, NET_OUT):
            nics.setdefault((p.name, p.resource_id), []).append(p)
    vcpu_points = _by_time(vcpu_points)
    intervals = {p.t: settings.interval(p.interval_us) for p in vcpu_points}
    previous: int | None = None
    for p in vcpu_points:
        interval = intervals[p.t]
        vcpus = max(0, int(p.volume))
        rate = hs06.get(p.host or "", 0.0)
        end_bucket = buckets.setdefault(bucket_of_end(p.t, hour), _Bucket())
        end_bucket.samples += 1
        for k, overlap in split(_cover_start(p.t, interval, launched, previous), p.t, hour):
            b = buckets.setdefault(k, _Bucket())
            b.covered_us += overlap
            b.vcpu_us += vcpus * overlap
            b.hs06_us += vcpus * overlap * rate
            if p.t > b.last_t:
                b.last_t, b.vcpus, b.host = p.t, vcpus, p.host
            if p.host:
                b.hosts.add(p.host)
        previous = p.t
    for (name, _resource), series in nics.items():
        before: Point | None = None
        for p in _by_time(series):
            interval = intervals.get(p.t, settings.interval(None))
            value = max(0, int(p.volume))
            near = before if before is not None and p.t - before.t <= 2 * interval else None
            if near is not None:
                old = max(0, int(near.volume))
                delta = value - old if value >= old else value
            elif launched is not None and p.t - launched <= 2 * interval:
                delta = value  # the first poll of the guest: everything since it booted
            else:
                delta = 0  # a new baseline after a gap: what passed meanwhile was not sampled
            before = p
            if delta <= 0:
                continue
            parts = split(_cover_start(p.t, interval, launched, near.t if near else None), p.t, hour)
            for k, share in spread(delta, parts) if parts else [(bucket_of_end(p.t, hour), delta)]:
                b = buckets.setdefault(k, _Bucket())
                if name == NET_IN:
                    b.net_in += share
                else:
                    b.net_out += share
    return {k: _row(k, b, info, hs06, settings) for k, b in buckets.items()
            if b.covered_us or b.net_in or b.net_out}


def _row(k: int, b: _Bucket, info: InstanceInfo | None, hs06: Mapping[str, float],
         settings: Settings) -> Rollup:
    hour = settings.hour_us
    info = info or InstanceInfo()
    covered_hours = b.covered_us / hour
    if b.vcpu_us:
        per_core = b.hs06_us / b.vcpu_us
    else:
        per_core = hs06.get(b.host or info.host or "", 0.0)
    values: dict[str, Any] = {
        "hour_seconds": hour / US, "project_id": info.project_id, "user_id": info.user_id,
        "flavor_id": info.flavor_id, "flavor_name": info.flavor_name,
        "vcpus": b.vcpus or info.vcpus, "ram_mb": info.ram_mb, "disk_gb": info.disk_gb,
        "host": b.host or info.host, "hs06_per_core": per_core, "seconds": b.covered_us / US,
        "vcpu_hours": b.vcpu_us / hour, "hs06_hours": b.hs06_us / hour,
        "ram_gb_hours": info.ram_mb / 1024 * covered_hours, "disk_gb_hours": info.disk_gb * covered_hours,
        "net_in_bytes": b.net_in, "net_out_bytes": b.net_out, "samples": b.samples,
    }
    missing = frozenset(h for h in b.hosts if h not in hs06)
    return Rollup(k, values, missing)


def empty(bucket: int, info: InstanceInfo | None, settings: Settings) -> Rollup:
    """A bucket the samples no longer reach (say, a launch time learnt later): no usage."""
    return _row(bucket, _Bucket(), info, {}, settings)


def bucket_start(k: int, hour_us: int) -> dt.datetime:
    """Bucket ``k``'s start as a naive UTC datetime (as DATETIME columns store it)."""
    return dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=k * hour_us)


def bucket_index(start: dt.datetime, hour_us: int) -> int:
    """The bucket starting at naive UTC ``start``."""
    delta = start - dt.datetime(1970, 1, 1)
    return (delta.days * 86400 * US + delta.seconds * US + delta.microseconds) // hour_us


def iso_hour(start: dt.datetime) -> str:
    """A bucket start as ISO-8601 UTC: ``2026-11-21T10:00:00Z`` (microseconds only if any)."""
    return start.isoformat(timespec="microseconds" if start.microsecond else "seconds") + "Z"
