"""os-hypervisors documents (Compute 2.1) built from the compute cells' capacity reports.

A hypervisor's id and name are its host name prefixed by its cell's path,
``top!cell1@host-001``, as cells did in Nova: host names need only be
unique within a cell. The detail view adds ``cell_path`` (our extension), so
clients need not split the name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

CELL_HOST_SEPARATOR = "@"


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def hosts(reports: Iterable[Mapping[Any, Any]]) -> list[dict[str, Any]]:
    """Flatten the reports into host entries carrying their cell's path and prefixed id."""
    result = []
    for report in reports:
        capabilities = report["capabilities"] or {}
        entries = capabilities.get("hosts") if isinstance(capabilities, dict) else None
        for host in entries if isinstance(entries, list) else []:
            if not isinstance(host, dict) or not isinstance(host.get("host"), str):
                continue
            cell_path = report["cell_path"]
            result.append({**host, "cell_path": cell_path,
                           "id": f"{cell_path}{CELL_HOST_SEPARATOR}{host['host']}"})
    return result


def summary(host: Mapping[Any, Any]) -> dict[str, Any]:
    """The list view: the four fields Compute 2.1 shows for a hypervisor."""
    return {"id": host["id"], "hypervisor_hostname": host["id"],
            "state": host.get("state", "down"), "status": host.get("status", "disabled")}


def detail(host: Mapping[Any, Any]) -> dict[str, Any]:
    """The detail and show view: Compute 2.1's fields plus ``cell_path``."""
    vcpus, memory_mb, local_gb = _int(host.get("vcpus")), _int(host.get("memory_mb")), \
        _int(host.get("local_gb"))
    memory_used, local_used = _int(host.get("memory_mb_used")), _int(host.get("local_gb_used"))
    cpu_info = {"model": host.get("cpu_model")}
    if host.get("hs06_per_core") is not None:
        cpu_info["hs06_per_core"] = host["hs06_per_core"]
    return {
        **summary(host),
        "vcpus": vcpus,
        "vcpus_used": _int(host.get("vcpus_used")),
        "memory_mb": memory_mb,
        "memory_mb_used": memory_used,
        "local_gb": local_gb,
        "local_gb_used": local_used,
        "free_ram_mb": memory_mb - memory_used,
        "free_disk_gb": local_gb - local_used,
        "disk_available_least": local_gb - local_used,
        "current_workload": 0,
        "running_vms": _int(host.get("running_vms")),
        "hypervisor_type": host.get("hypervisor_type") or "QEMU",
        "hypervisor_version": 0,
        "host_ip": "",
        # Compute 2.1 carries cpu_info as a JSON string.
        "cpu_info": json.dumps(cpu_info),
        "service": {"host": host["id"], "id": host["id"], "disabled_reason": None},
        "cell_path": host["cell_path"],
    }


_SUMMED = ("vcpus", "vcpus_used", "memory_mb", "memory_mb_used", "local_gb", "local_gb_used",
           "free_ram_mb", "free_disk_gb", "current_workload", "running_vms", "disk_available_least")


def statistics(details: Iterable[Mapping[Any, Any]]) -> dict[str, Any]:
    """Sums over every hypervisor, as os-hypervisors/statistics shows them."""
    totals = dict.fromkeys(_SUMMED, 0)
    count = 0
    for host in details:
        count += 1
        for key in _SUMMED:
            totals[key] += host[key]
    return {"hypervisor_statistics": {"count": count, **totals}}
