"""Samples: the wire format of one measurement, and turning guest counters into samples.

A sample is a plain dict (it travels in notifications)::

    {"id": uuid, "name": "cpu", "type": "cumulative", "unit": "ns", "volume": 12.0,
     "instance_id": uuid, "resource_id": uuid or "<uuid>-<device>", "project_id": ...,
     "user_id": ..., "host": ..., "timestamp": ISO-8601 UTC, "metadata": {...}}

Cumulative counters go out as read; each also yields a rate (``<name>.rate``,
or ``cpu_util`` in percent of the guest's vCPUs) from the previous reading of
the same guest, unless the counter went backwards (the guest restarted).
"""

from __future__ import annotations

import datetime as dt
import uuid as uuid_mod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

CUMULATIVE = "cumulative"
GAUGE = "gauge"

# (sample name, unit, counter key) of every per-disk and per-NIC cumulative counter.
_DISK = (("disk.device.read.bytes", "B", "read_bytes"),
         ("disk.device.read.requests", "request", "read_requests"),
         ("disk.device.write.bytes", "B", "write_bytes"),
         ("disk.device.write.requests", "request", "write_requests"))
_NIC = (("network.incoming.bytes", "B", "rx_bytes"),
        ("network.incoming.packets", "packet", "rx_packets"),
        ("network.outgoing.bytes", "B", "tx_bytes"),
        ("network.outgoing.packets", "packet", "tx_packets"))


@dataclass(frozen=True)
class Owner:
    """Whose guest it is, from the instance's row."""

    project_id: str
    user_id: str | None = None


@dataclass(frozen=True)
class _Reading:
    """What the previous poll saw of one guest: its time and cumulative values."""

    read_at: float
    values: dict[tuple[str, str], int]


def timestamp(seconds: float) -> str:
    """Return ``seconds`` since the epoch as an ISO-8601 UTC string."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat()


def _cumulative(counters: Mapping[str, Any]) -> list[tuple[str, str, str, int, dict[str, Any]]]:
    """Return (name, unit, resource_id, value, metadata) of every cumulative counter."""
    uuid = counters["uuid"]
    found: list[tuple[str, str, str, int, dict[str, Any]]] = [
        ("cpu", "ns", uuid, int(counters["cpu_time_ns"]), {"vcpus": counters["vcpus"]})]
    for kind, meters in (("disks", _DISK), ("nics", _NIC)):
        for device in counters.get(kind, ()):
            resource = f"{uuid}-{device['device']}"
            for name, unit, key in meters:
                found.append((name, unit, resource, int(device[key]), {"device": device["device"]}))
    return found


def cpu_util(cpu_ns_delta: int, seconds: float, vcpus: int) -> float:
    """Return the percentage of ``vcpus`` busy over ``seconds`` given the CPU time spent meanwhile."""
    return 100.0 * cpu_ns_delta / (seconds * 1e9 * max(1, vcpus))


class Pollster:
    """Turns each guest's counters into samples, remembering one reading per guest for the rates.

    Used by one polling thread; not thread-safe.
    """

    def __init__(self, new_id: Callable[[], str] = lambda: str(uuid_mod.uuid4()),
                 interval: float | None = None) -> None:
        self._new_id = new_id
        # The poll period, sent with the ``vcpus`` and ``cpu`` samples: the collector counts each
        # poll as covering at most that long before it (None: the collector's own setting).
        self._interval = interval
        self._previous: dict[str, _Reading] = {}

    def samples(self, host: str, counters: Mapping[str, Any], owner: Owner) -> list[dict[str, Any]]:
        """Return the samples of one guest's counters (GuestCounters as a dict) read on ``host``."""
        uuid = counters["uuid"]
        read_at = float(counters["read_at"])
        vcpus = int(counters["vcpus"])
        stamp = timestamp(read_at)
        out: list[dict[str, Any]] = []

        def add(name: str, kind: str, unit: str, volume: float, resource: str,
                metadata: dict[str, Any]) -> None:
            out.append({"id": self._new_id(), "name": name, "type": kind, "unit": unit, "volume": volume,
                        "instance_id": uuid, "resource_id": resource, "project_id": owner.project_id,
                        "user_id": owner.user_id, "host": host, "timestamp": stamp,
                        "metadata": metadata})

        timing = {} if self._interval is None else {"interval": self._interval}
        add("vcpus", GAUGE, "vcpu", vcpus, uuid, dict(timing))
        add("memory", GAUGE, "MiB", counters["memory_available_kib"] / 1024, uuid, {})
        add("memory.usage", GAUGE, "MiB", counters["memory_used_kib"] / 1024, uuid, {})
        previous = self._previous.get(uuid)
        values: dict[tuple[str, str], int] = {}
        for name, unit, resource, value, metadata in _cumulative(counters):
            if name == "cpu":
                metadata = {**metadata, **timing}
            add(name, CUMULATIVE, unit, value, resource, metadata)
            values[(name, resource)] = value
            before = previous.values.get((name, resource)) if previous else None
            if previous is None or before is None or value < before or read_at <= previous.read_at:
                continue  # no earlier reading, or the counter restarted: no rate this time
            seconds = read_at - previous.read_at
            if name == "cpu":
                add("cpu_util", GAUGE, "%", cpu_util(value - before, seconds, vcpus), resource, metadata)
            else:
                add(name + ".rate", GAUGE, unit + "/s", (value - before) / seconds, resource, metadata)
        self._previous[uuid] = _Reading(read_at, values)
        return out

    def forget(self, keep: Iterable[str]) -> None:
        """Drop the readings of guests not in ``keep`` (deleted or stopped ones)."""
        kept = set(keep)
        for uuid in [u for u in self._previous if u not in kept]:
            del self._previous[uuid]
