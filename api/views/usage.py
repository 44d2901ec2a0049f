"""os-simple-tenant-usage documents, in Nova's wire format.

Figures come from the gathered rollups: ``hours`` is the metered running time
in the period, ``total_vcpus_usage`` vCPU-hours, ``total_memory_mb_usage``
MB-hours, ``total_local_gb_usage`` GB-hours. Name, state and times come from
the instance index when it still has the instance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from api.store.usage import InstanceUsage


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def server_usage(usage: InstanceUsage, row: Any, now: dt.datetime) -> dict[str, Any]:
    """One entry of ``server_usages``; ``row`` is the instance's index row or None."""
    flavor: Mapping[str, Any] = (row.flavor or {}) if row is not None else {}
    if row is not None:
        name = row.name
        started = row.launched_at or row.created_at
        ended = row.terminated_at or (row.deleted_at if row.deleted else None)
        state = "terminated" if row.deleted or ended is not None else row.vm_state
    else:
        # Purged from the index: it was deleted; its rollups still tell when it ran.
        name = ""
        started = usage.first_hour
        ended = dt.datetime.fromtimestamp(usage.last_end_epoch, dt.UTC).replace(tzinfo=None)
        state = "terminated"
    uptime = int(((ended or now) - started).total_seconds()) if started is not None else 0
    return {
        "instance_id": usage.instance_id,
        "name": name,
        "hours": usage.hours,
        "vcpus": int(flavor.get("vcpus", usage.vcpus)),
        "memory_mb": int(flavor.get("ram", usage.ram_mb)),
        "local_gb": int(flavor["disk"]) + int(flavor.get("ephemeral") or 0) if "disk" in flavor
        else usage.disk_gb,
        "flavor": flavor.get("name") or usage.flavor_name or "",
        "tenant_id": usage.project_id,
        "started_at": _time(started),
        "ended_at": _time(ended),
        "state": state,
        "uptime": max(0, uptime),
    }


def empty(tenant_id: str, start: dt.datetime, stop: dt.datetime, detailed: bool) -> dict[str, Any]:
    """A tenant's usage document with nothing counted yet."""
    doc: dict[str, Any] = {"tenant_id": tenant_id, "total_local_gb_usage": 0.0, "total_vcpus_usage": 0.0,
                           "total_memory_mb_usage": 0.0, "total_hours": 0.0,
                           "start": start.isoformat(), "stop": stop.isoformat()}
    if detailed:
        doc["server_usages"] = []
    return doc


def tenant_usages(usages: Iterable[InstanceUsage], index: Mapping[str, Any], start: dt.datetime,
                  stop: dt.datetime, detailed: bool, now: dt.datetime) -> list[dict[str, Any]]:
    """One document per project, in order of first appearance, summing its instances' usage."""
    # Usage whose owner the collector did not know yet is listed under tenant_id "".
    found: dict[str, dict[str, Any]] = {}
    for usage in usages:
        doc = found.get(usage.project_id)
        if doc is None:
            doc = found[usage.project_id] = empty(usage.project_id, start, stop, detailed)
        doc["total_hours"] += usage.hours
        doc["total_vcpus_usage"] += usage.vcpu_hours
        doc["total_memory_mb_usage"] += usage.memory_mb_hours
        doc["total_local_gb_usage"] += usage.disk_gb_hours
        if detailed:
            doc["server_usages"].append(server_usage(usage, index.get(usage.instance_id), now))
    return list(found.values())
