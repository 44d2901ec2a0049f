"""The os-cells document (our extension): the cell tree with each cell's capacity.

Compute cells carry their latest report; every cell above them (sites and
the API cell) carries the sums of the compute cells below it, and the age of
its oldest report, so a stale subtree shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cells import tree

SUMMED = ("vcpus_free", "ram_mb_free", "disk_gb_free", "vcpus_total", "ram_mb_total",
          "disk_gb_total", "hosts_up", "hosts_total", "hs06_free")
LARGEST = ("largest_free_ram_mb", "largest_free_vcpus")


def _zulu(value: Any) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _entry(path: str, cell_type: str) -> dict[str, Any]:
    return {"path": path, "name": path.rsplit(tree.SEPARATOR, 1)[-1], "parent": tree.parent_of(path),
            "type": cell_type, **dict.fromkeys(SUMMED, 0), **dict.fromkeys(LARGEST, 0),
            "reported_at": None}


def cell_tree(root: str, root_type: str, children: Iterable[str],
              reports: Iterable[Mapping[Any, Any]]) -> dict[str, Any]:
    """Return {"cells": [...]}: ``root``, its configured ``children`` and every reporter below it.

    Ordered by path, which puts every cell right after its parent. The
    format is stated in docs/architecture.md ("HTTP APIs served").
    """
    entries: dict[str, dict[str, Any]] = {root: _entry(root, root_type)}
    for child in children:
        entries[child] = _entry(child, "child")
    for report in reports:
        path = report["cell_path"]
        if path == root or not tree.is_below(path, root):
            continue  # not a cell of this subtree: nothing to hang it on
        leaf = entries.setdefault(path, _entry(path, "compute"))
        leaf["type"] = "compute"
        for key in SUMMED + LARGEST:
            leaf[key] = report[key]
        leaf["reported_at"] = report["reported_at"]
        ancestor = tree.parent_of(path)
        while ancestor is not None and tree.is_below(ancestor, root):
            above = entries.setdefault(ancestor, _entry(ancestor, "site"))
            if above["type"] == "child":
                above["type"] = "site"
            for key in SUMMED:
                above[key] += report[key]
            for key in LARGEST:
                above[key] = max(above[key], report[key])
            oldest = above["reported_at"]
            above["reported_at"] = report["reported_at"] if oldest is None \
                else min(oldest, report["reported_at"])
            ancestor = tree.parent_of(ancestor)
    cells = []
    for path in sorted(entries):
        entry = entries[path]
        if entry["type"] == "child":
            entry["type"] = "unknown"  # configured, but nothing reported from it yet
        entry["reported_at"] = _zulu(entry["reported_at"])
        cells.append(entry)
    return {"cells": cells}
