"""Usage reports read from Compute's os-accounting: the answer checked, groups as rows, a total.

``groups(body)`` checks the API's document and returns its groups;
``report_rows`` flattens them into rows (tree order with ``--tree``) and
``total_row`` sums them without counting a subtree twice. Nothing here does
I/O, so the rendering is tested from a document alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from cloudctl.clouds import CloudError

METRICS = ("vcpu_hours", "hs06_hours", "ram_gb_hours", "disk_gb_hours", "net_in_bytes", "net_out_bytes",
           "instance_hours")
PLOT_METRICS = ("vcpu_hours", "hs06_hours", "ram_gb_hours", "disk_gb_hours")
# What a metric is, for axis labels: (quantity, unit).
METRIC_LABELS = {"vcpu_hours": ("vCPU time", "vCPU-hours"), "hs06_hours": ("CPU work", "HS06-hours"),
                 "ram_gb_hours": ("memory", "GB-hours"), "disk_gb_hours": ("disk", "GB-hours")}
ROW_KEYS = ("group", "name", "parent_id", "depth", *METRICS)


class AccountingError(CloudError):
    """The os-accounting answer is not the document this client reads."""


def parse_time(text: str) -> dt.datetime:
    """Return an ISO date or date-time as an aware UTC datetime (naive ones are UTC); raises ValueError."""
    value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def iso(value: dt.datetime) -> str:
    """The UTC ISO-8601 form the API reads: ``2026-11-01T00:00:00Z``."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def month_start(now: dt.datetime) -> dt.datetime:
    """Midnight UTC of the first day of ``now``'s month."""
    return now.astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AccountingError(f"the os-accounting answer has a non-number at {where}")
    return value


def _figures(entry: Any, where: str) -> dict[str, float]:
    if not isinstance(entry, Mapping):
        raise AccountingError(f"the os-accounting answer has no figures at {where}")
    # A metric the server does not report counts as 0; a present one must be a number.
    return {m: _number(entry.get(m, 0), f"{where}.{m}") for m in METRICS}


def groups(body: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Return (the report's header, its groups) from an os-accounting answer; raises AccountingError.

    Each group is ``{"key", "name", "parent_id", "depth", "totals", "series"}``
    with every metric a number and every series point's ``period_start`` parsed.
    """
    report = body.get("accounting") if isinstance(body, Mapping) else None
    if not isinstance(report, Mapping) or not isinstance(report.get("groups"), list):
        raise AccountingError("the os-accounting answer is not an accounting document with groups")
    found = []
    for i, group in enumerate(report["groups"]):
        where = f"groups[{i}]"
        if not isinstance(group, Mapping) or group.get("key") is None:
            raise AccountingError(f"the os-accounting answer has a group without a key at {where}")
        series: list[dict[str, Any]] = []
        for j, point in enumerate(group.get("series") or []):
            try:
                start = parse_time(str(point.get("period_start")))
            except (AttributeError, ValueError):
                raise AccountingError(f"the os-accounting answer has a bad period_start at "
                                      f"{where}.series[{j}]") from None
            series.append({"period_start": start, **_figures(point, f"{where}.series[{j}]")})
        depth = group.get("depth")
        found.append({"key": str(group["key"]), "name": group.get("name"),
                      "parent_id": group.get("parent_id"), "depth": depth if isinstance(depth, int) else 0,
                      "totals": _figures(group.get("totals"), f"{where}.totals"),
                      "series": sorted(series, key=lambda p: p["period_start"])})
    header = {k: report.get(k) for k in ("start", "end", "granularity", "group_by", "hour_seconds")}
    return header, found


def label(group: Mapping[str, Any]) -> str:
    """A group's name, else its key (a flavor or cell without a name)."""
    return str(group.get("name") or group["key"])


def tree_order(found: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Return groups parents first, siblings by name; a group whose parent is absent is a root."""
    keys = {g["key"] for g in found}
    children: dict[str | None, list[Mapping[str, Any]]] = {}
    for group in found:
        parent = group.get("parent_id")
        children.setdefault(parent if parent in keys else None, []).append(group)
    ordered: list[Mapping[str, Any]] = []
    stack = sorted(children.get(None, []), key=label, reverse=True)
    while stack:
        group = stack.pop()
        ordered.append(group)
        stack.extend(sorted(children.get(group["key"], []), key=label, reverse=True))
    return ordered


def report_rows(found: Sequence[Mapping[str, Any]], tree: bool = False) -> list[dict[str, Any]]:
    """Return one row per group (keys ``ROW_KEYS``); by name, or in tree order with ``tree``."""
    ordered = tree_order(found) if tree else sorted(found, key=lambda g: (label(g), g["key"]))
    top = min((int(g.get("depth") or 0) for g in ordered), default=0)
    rows = []
    for group in ordered:
        row: dict[str, Any] = {"group": group["key"], "name": label(group),
                               "parent_id": group.get("parent_id"),
                               "depth": int(group.get("depth") or 0) - top if tree else None}
        row.update(group["totals"])
        rows.append(row)
    return rows


def total_row(rows: Sequence[Mapping[str, Any]], tree: bool = False) -> dict[str, Any]:
    """The sum of ``rows``; in a tree only the roots count (each already sums its subtree)."""
    keys = {r["group"] for r in rows}
    counted = [r for r in rows if not tree or r.get("parent_id") not in keys]
    total: dict[str, Any] = {"group": "", "name": "total", "parent_id": None, "depth": None}
    total.update({m: sum(r[m] for r in counted) for m in METRICS})
    return total


def human_bytes(value: float | None) -> str:
    """Return a byte count as a short human string (B, KiB, ... PiB)."""
    if value is None:
        return ""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} PiB"


def hours(value: float | None) -> str:
    """Return hours with two decimals (a short test shows) and thousands separators."""
    return "" if value is None else f"{value:,.2f}"
