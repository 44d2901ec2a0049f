"""Capacity reports: what a compute cell can still host, computed from its hosts.

A compute cell sums its enabled, up hosts; parents store the latest report of
every compute cell below them (one row per leaf path) for the cell scheduler.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.db import api_models, cell_models
from cells.db.engine import Database, rowcount
from cells.db.types import utcnow


def _host_entry(node: cell_models.ComputeNode, service: cell_models.Service | None,
                down_cutoff: dt.datetime) -> dict[str, Any]:
    up = service is not None and service.last_seen_at >= down_cutoff
    return {
        "host": node.host,
        "state": "up" if up else "down",
        "status": "disabled" if service is None or service.disabled else "enabled",
        "hypervisor_type": node.hypervisor_type, "cpu_model": node.cpu_model,
        "vcpus": node.vcpus, "vcpus_used": node.vcpus_used,
        "memory_mb": node.memory_mb, "memory_mb_used": node.memory_mb_used,
        "local_gb": node.local_gb, "local_gb_used": node.local_gb_used,
        "running_vms": node.running_vms, "hs06_per_core": node.hs06_per_core,
        "cpu_allocation_ratio": node.cpu_allocation_ratio,
        "ram_allocation_ratio": node.ram_allocation_ratio,
        "disk_allocation_ratio": node.disk_allocation_ratio,
    }


def compute_report(db: Database, cell_path: str, service_down_time: float) -> dict[str, Any]:
    """Return this compute cell's capacity report (two SELECTs)."""
    cutoff = utcnow() - dt.timedelta(seconds=service_down_time)
    with db.session() as session:
        nodes = session.scalars(sa.select(cell_models.ComputeNode)).all()
        services = {s.host: s for s in session.scalars(
            sa.select(cell_models.Service).where(cell_models.Service.binary == "cloud-compute"))}
    report: dict[str, Any] = {
        "cell_path": cell_path, "vcpus_free": 0, "ram_mb_free": 0, "disk_gb_free": 0,
        "vcpus_total": 0, "ram_mb_total": 0, "disk_gb_total": 0, "hosts_up": 0,
        "hosts_total": len(nodes), "hs06_free": 0.0, "largest_free_ram_mb": 0,
        "largest_free_vcpus": 0, "reported_at": utcnow().isoformat(),
    }
    hosts = []
    for node in nodes:
        entry = _host_entry(node, services.get(node.host), cutoff)
        hosts.append(entry)
        report["vcpus_total"] += node.vcpus
        report["ram_mb_total"] += node.memory_mb
        report["disk_gb_total"] += node.local_gb
        if entry["state"] != "up" or entry["status"] != "enabled":
            continue
        report["hosts_up"] += 1
        vcpus_free = max(0, int(node.vcpus * node.cpu_allocation_ratio) - node.vcpus_used)
        ram_free = max(0, int(node.memory_mb * node.ram_allocation_ratio) - node.memory_mb_used)
        disk_free = max(0, int(node.local_gb * node.disk_allocation_ratio) - node.local_gb_used)
        report["vcpus_free"] += vcpus_free
        report["ram_mb_free"] += ram_free
        report["disk_gb_free"] += disk_free
        report["hs06_free"] += max(0, node.vcpus - node.vcpus_used) * node.hs06_per_core
        report["largest_free_ram_mb"] = max(report["largest_free_ram_mb"], ram_free)
        report["largest_free_vcpus"] = max(report["largest_free_vcpus"], vcpus_free)
    report["capabilities"] = {"hosts": hosts}
    return report


_COLUMNS = ("vcpus_free", "ram_mb_free", "disk_gb_free", "vcpus_total", "ram_mb_total",
            "disk_gb_total", "hosts_up", "hosts_total", "hs06_free", "largest_free_ram_mb",
            "largest_free_vcpus", "capabilities")


def store_report(db: Database, model: type[Any], report: dict[str, Any]) -> None:
    """Upsert a compute cell's report into ``model`` (the child_capacity table of a schema)."""
    values = {k: report[k] for k in _COLUMNS if k in report}
    values["reported_at"] = dt.datetime.fromisoformat(report["reported_at"])

    def work(session: Session) -> None:
        # Reports handled in parallel must not let an older one overwrite a newer one.
        changed = rowcount(session.execute(
            sa.update(model).where(model.cell_path == report["cell_path"],
                                   model.reported_at <= values["reported_at"]).values(**values)))
        if not changed and session.get(model, report["cell_path"]) is not None:
            return
        if not changed:
            session.add(model(cell_path=report["cell_path"], **values))

    db.transaction(work)


def capacity_model(cell_type: str) -> type[Any]:
    """The child_capacity model of the schema a cell of ``cell_type`` uses."""
    return api_models.ChildCapacity if cell_type == "api" else cell_models.ChildCapacity
