"""`cloudctl cell list`: the cell tree with free capacity, children indented under parents.

os-cells lists every cell flat, ordered by path, each with its ``parent``,
its ``type`` and its own figures (a site or the API cell carries the sums of
the compute cells below it), so the tree is rebuilt from the parent links
and nothing is summed here.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from typing import Any

from cloudctl.client import Resource
from cloudctl.commands.common import Context, SubParsers
from cloudctl.output import Column, Listing, Result, human_gb, human_mb

CAPACITY = ("vcpus_free", "vcpus_total", "ram_mb_free", "ram_mb_total", "disk_gb_free", "disk_gb_total",
            "hosts_up", "hosts_total", "hs06_free", "largest_free_ram_mb", "largest_free_vcpus")


def _indented(row: Mapping[str, Any]) -> str:
    return "  " * row["depth"] + (row["name"] if row["depth"] else row["path"])


COLUMNS = [Column("path", "Cell", _indented), Column("type", "Type"),
           Column("vcpus_free", "Free vCPUs"),
           Column("ram_mb_free", "Free RAM", lambda r: human_mb(r.get("ram_mb_free"))),
           Column("disk_gb_free", "Free Disk", lambda r: human_gb(r.get("disk_gb_free"))),
           Column("hosts", "Hosts Up", lambda r: f"{r.get('hosts_up') or 0}/{r.get('hosts_total') or 0}"),
           Column("reported_at", "Reported")]
MACHINE_KEYS = ["path", "name", "parent", "type", "depth", *CAPACITY, "reported_at"]


def build_tree(cells: Iterable[Resource]) -> list[dict[str, Any]]:
    """Return the cells in tree order (parents first, siblings by name), each with its ``depth``.

    A cell whose parent is not listed is shown as a root.
    """
    by_path = {str(c["path"]): {**c, "name": c.get("name") or str(c["path"]).rpartition("!")[2]}
               for c in cells}
    children: dict[str | None, list[str]] = {}
    for path, cell in by_path.items():
        parent = cell.get("parent")
        children.setdefault(parent if parent in by_path and parent != path else None, []).append(path)
    rows: list[dict[str, Any]] = []

    def walk(path: str, depth: int) -> None:
        rows.append({**by_path[path], "depth": depth})
        for kid in sorted(children.get(path, []), key=lambda p: by_path[p]["name"]):
            walk(kid, depth + 1)

    for root in sorted(children.get(None, [])):
        walk(root, 0)
    return rows


def do_list(ctx: Context, args: argparse.Namespace) -> Result:
    return Listing(COLUMNS, build_tree(ctx.client.cells.list()), machine_keys=MACHINE_KEYS)


def register(sub: SubParsers, common: list[argparse.ArgumentParser]) -> None:
    """Add ``cell list`` to the top-level subparsers."""
    noun = sub.add_parser("cell", help="the cell tree (admin)").add_subparsers(dest="verb", required=True,
                                                                               metavar="VERB")
    p = noun.add_parser("list", parents=common, help="cells with free capacity, as a tree")
    p.set_defaults(func=do_list)
