"""`cloudctl cell list`: the cell tree with free capacity, children indented under parents."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from typing import Any

from cloudctl.client import Resource
from cloudctl.commands.common import Context, SubParsers
from cloudctl.output import Column, Listing, Result, human_gb, human_mb

SEPARATOR = "!"
CAPACITY = ("vcpus_free", "vcpus_total", "ram_mb_free", "ram_mb_total", "disk_gb_free", "disk_gb_total",
            "hosts_up", "hosts_total")


def _indented(row: Mapping[str, Any]) -> str:
    return "  " * row["depth"] + (row["name"] if row["depth"] else row["path"])


COLUMNS = [Column("path", "Cell", _indented), Column("type", "Type"),
           Column("vcpus_free", "Free vCPUs"),
           Column("ram_mb_free", "Free RAM", lambda r: human_mb(r.get("ram_mb_free"))),
           Column("disk_gb_free", "Free Disk", lambda r: human_gb(r.get("disk_gb_free"))),
           Column("hosts", "Hosts Up", lambda r: f"{r.get('hosts_up') or 0}/{r.get('hosts_total') or 0}")]
MACHINE_KEYS = ["path", "name", "type", "depth", *CAPACITY, "reported_at"]


def _flatten(cells: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    """Accept a flat list or one nested through ``children``."""
    for cell in cells:
        yield cell
        yield from _flatten(c for c in cell.get("children") or [] if isinstance(c, Mapping))


def build_tree(cells: Iterable[Resource]) -> list[dict[str, Any]]:
    """Return rows in tree order (parents before children, siblings by name) with ``depth``.

    Ancestors the API did not list are added; a cell without capacity figures
    (the API stores them per compute cell only) shows the sum of its children.
    """
    nodes: dict[str, dict[str, Any]] = {}
    for cell in _flatten(cells):
        path = str(cell.get("path") or cell.get("cell_path") or cell.get("name"))
        parts = path.split(SEPARATOR)
        for depth in range(len(parts)):
            ancestor = SEPARATOR.join(parts[: depth + 1])
            nodes.setdefault(ancestor, {"path": ancestor, "name": parts[depth], "depth": depth,
                                        "type": None, "reported_at": None})
        node = nodes[path]
        node.update({k: v for k, v in cell.items() if k in (*CAPACITY, "type", "reported_at")})
    children: dict[str, list[str]] = {}
    for path in nodes:
        parent = path.rpartition(SEPARATOR)[0]
        if parent:
            children.setdefault(parent, []).append(path)

    def fill(path: str) -> None:
        node = nodes[path]
        kids = sorted(children.get(path, []))
        for kid in kids:
            fill(kid)
        for key in CAPACITY:
            if kids and node.get(key) is None:
                node[key] = sum(nodes[k].get(key) or 0 for k in kids)
        if node["type"] is None:
            node["type"] = "compute" if not kids else ("api" if node["depth"] == 0 else "site")

    rows: list[dict[str, Any]] = []

    def walk(path: str) -> None:
        rows.append(nodes[path])
        for kid in sorted(children.get(path, [])):
            walk(kid)

    for root in sorted(p for p in nodes if SEPARATOR not in p):
        fill(root)
        walk(root)
    return rows


def do_list(ctx: Context, args: argparse.Namespace) -> Result:
    return Listing(COLUMNS, build_tree(ctx.client.cells.list()), machine_keys=MACHINE_KEYS)


def register(sub: SubParsers, common: list[argparse.ArgumentParser]) -> None:
    """Add ``cell list`` to the top-level subparsers."""
    noun = sub.add_parser("cell", help="the cell tree (admin)").add_subparsers(dest="verb", required=True,
                                                                               metavar="VERB")
    p = noun.add_parser("list", parents=common, help="cells with free capacity, as a tree")
    p.set_defaults(func=do_list)
