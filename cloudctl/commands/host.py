"""`cloudctl host list`: every hypervisor with its cell, state and usage."""

from __future__ import annotations

import argparse
from typing import Any

from cloudctl.client import Resource
from cloudctl.commands.common import Context, SubParsers
from cloudctl.output import Column, Listing, Result, human_gb, human_mb


def _used_of(used: str, total: str, fmt: Any = str) -> Any:
    return lambda r: f"{fmt(r.get(used) or 0)} / {fmt(r.get(total) or 0)}"


COLUMNS = [Column("cell", "Cell"), Column("host", "Host"), Column("state", "State"),
           Column("status", "Status"),
           Column("vcpus", "vCPUs Used", _used_of("vcpus_used", "vcpus")),
           Column("memory_mb", "RAM Used", _used_of("memory_mb_used", "memory_mb", human_mb)),
           Column("local_gb", "Disk Used", _used_of("local_gb_used", "local_gb", human_gb)),
           Column("running_vms", "VMs")]
MACHINE_KEYS = ["cell", "host", "state", "status", "vcpus_used", "vcpus", "memory_mb_used", "memory_mb",
                "local_gb_used", "local_gb", "running_vms", "hypervisor_type", "id"]


def summary(hypervisor: Resource) -> dict[str, Any]:
    """Return a hypervisor's row: its cell comes from ``cell_path`` or a ``path@host`` service host."""
    service_host = str((hypervisor.get("service") or {}).get("host") or "")
    cell = hypervisor.get("cell_path") or hypervisor.get("cell")
    host = hypervisor.get("hypervisor_hostname") or service_host
    if "@" in service_host:
        prefix, _, short = service_host.rpartition("@")
        cell = cell or prefix
        host = host if host != service_host else short
    row = {k: hypervisor.get(k) for k in MACHINE_KEYS}
    row.update(cell=cell, host=host)
    return row


def do_list(ctx: Context, args: argparse.Namespace) -> Result:
    rows = [summary(h) for h in ctx.client.hypervisors.list()]
    if args.cell:
        rows = [r for r in rows if r["cell"] == args.cell or str(r["cell"] or "").startswith(args.cell + "!")]
    rows.sort(key=lambda r: (str(r["cell"] or ""), str(r["host"] or "")))
    return Listing(COLUMNS, rows, machine_keys=MACHINE_KEYS)


def register(sub: SubParsers, common: list[argparse.ArgumentParser]) -> None:
    """Add ``host list`` to the top-level subparsers."""
    noun = sub.add_parser("host", help="hypervisors (admin)").add_subparsers(dest="verb", required=True,
                                                                             metavar="VERB")
    p = noun.add_parser("list", parents=common, help="hypervisors with state and usage")
    p.add_argument("--cell", metavar="PATH", help="only hosts in this cell or below it")
    p.set_defaults(func=do_list)
