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
    """Return a hypervisor's row: its cell from ``cell_path``, its host name without the cell prefix.

    os-hypervisors names a host ``<cell path>@<host>``; ``cell_path`` (our
    extension) says where the prefix ends, and an API without it is read by
    splitting the name at its last ``@``.
    """
    name = str(hypervisor.get("hypervisor_hostname") or (hypervisor.get("service") or {}).get("host") or "")
    cell = hypervisor.get("cell_path")
    if cell and name.startswith(f"{cell}@"):
        host = name[len(cell) + 1:]
    elif not cell and "@" in name:
        cell, _, host = name.rpartition("@")
    else:
        host = name
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
