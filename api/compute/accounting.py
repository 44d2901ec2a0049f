"""The accounting query: its parameters, their limits, and the groups it answers with (pure).

A period ``[start, end)`` is cut into hours (the rollup buckets, ``hour_seconds``
long), calendar UTC days or calendar UTC months; the usage is grouped by
project, by parent project (a project's whole subtree summed), by compute
cell or by flavor.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cells.exception import BadRequest

# Most periods one query may span, per granularity.
MAX_POINTS = {"hour": 744, "day": 1100, "month": 120}
GROUP_BYS = ("project", "parent", "cell", "flavor")
TOTALS = ("vcpu_hours", "hs06_hours", "ram_gb_hours", "disk_gb_hours", "net_in_bytes", "net_out_bytes",
          "instance_hours")
UNKNOWN_NAME = "(unknown)"
_BYTES = frozenset({"net_in_bytes", "net_out_bytes"})


@dataclass(frozen=True)
class Query:
    start: dt.datetime
    end: dt.datetime
    granularity: str
    group_by: str
    project_id: str | None


def _epoch(value: dt.datetime) -> float:
    return value.replace(tzinfo=dt.UTC).timestamp()


def points(start: dt.datetime, end: dt.datetime, granularity: str, hour_seconds: float) -> int:
    """How many periods of ``granularity`` overlap ``[start, end)`` (``end`` after ``start``)."""
    if granularity == "hour":
        first = math.floor(_epoch(start) / hour_seconds)
        last = math.ceil(_epoch(end) / hour_seconds)
        return int(last - first)
    if granularity == "day":
        last_day = (end - dt.timedelta(microseconds=1)).date()
        return (last_day - start.date()).days + 1
    final = end - dt.timedelta(microseconds=1)
    return (final.year - start.year) * 12 + final.month - start.month + 1


def check(start: dt.datetime | None, end: dt.datetime | None, granularity: str | None,
          group_by: str | None, project_id: str | None, hour_seconds: float) -> Query:
    """Return the validated query; raises BadRequest naming what is wrong or which limit is passed."""
    if start is None or end is None:
        raise BadRequest("Both start and end are required (ISO 8601 date-times, UTC unless an "
                         "offset is given).")
    if end <= start:
        raise BadRequest(f"end ({end.isoformat()}) must be after start ({start.isoformat()}).")
    granularity = granularity or "day"
    if granularity not in MAX_POINTS:
        raise BadRequest(f"Invalid granularity {granularity[:32]!r}: use one of hour, day, month.")
    group_by = group_by or "project"
    if group_by not in GROUP_BYS:
        raise BadRequest(f"Invalid group_by {group_by[:32]!r}: use one of {', '.join(GROUP_BYS)}.")
    found = points(start, end, granularity, hour_seconds)
    if found > MAX_POINTS[granularity]:
        raise BadRequest(f"The period spans {found} {granularity} points; at most "
                         f"{MAX_POINTS[granularity]} {granularity} points are allowed per query: "
                         "shorten the period or use a coarser granularity.")
    if project_id is not None and not 0 < len(project_id) <= 64:
        raise BadRequest("Invalid project_id: 1 to 64 characters.")
    return Query(start, end, granularity, group_by, project_id)


def period_start(period: Any, granularity: str) -> dt.datetime:
    """The start of a period as SQL named it: the bucket's start, or "YYYY-MM-DD" / "YYYY-MM"."""
    if isinstance(period, dt.datetime):
        return period
    text = str(period)
    if granularity == "month":
        return dt.datetime.strptime(text[:7], "%Y-%m")
    if granularity == "day":
        return dt.datetime.strptime(text[:10], "%Y-%m-%d")
    return dt.datetime.fromisoformat(text)


# --- the project tree ----------------------------------------------------------------

Projects = Mapping[str, tuple[str, str | None]]  # id -> (name, parent id)


def ancestry(projects: Projects, project_id: str) -> list[str]:
    """``project_id`` and its ancestors, nearest first (a cycle or an unknown parent ends it)."""
    chain = [project_id]
    seen = {project_id}
    parent = projects.get(project_id, ("", None))[1]
    while parent is not None and parent not in seen:
        chain.append(parent)
        seen.add(parent)
        parent = projects.get(parent, ("", None))[1]
    return chain


def subtree(projects: Projects, root: str) -> list[str]:
    """``root`` and every project below it."""
    children: dict[str, list[str]] = {}
    for pid, (_, parent) in projects.items():
        if parent is not None:
            children.setdefault(parent, []).append(pid)
    found, todo = [], [root]
    seen: set[str] = set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


# --- grouping ----------------------------------------------------------------------

@dataclass
class Group:
    key: str | None
    name: str | None
    parent_id: str | None = None
    depth: int | None = None
    order: tuple[Any, ...] = ()
    totals: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TOTALS, 0.0))
    series: dict[dt.datetime, dict[str, float]] = field(default_factory=dict)

    def add(self, start: dt.datetime, figures: Mapping[str, float]) -> None:
        point = self.series.setdefault(start, dict.fromkeys(TOTALS, 0.0))
        for name in TOTALS:
            value = figures.get(name, 0.0)
            point[name] += value
            self.totals[name] += value


@dataclass(frozen=True)
class Sums:
    """One row of SQL sums: a group key, its name (flavors), the period's start, the figures."""

    key: str | None
    name: str | None
    start: dt.datetime
    figures: Mapping[str, float]


def groups(query: Query, rows: Iterable[Sums], projects: Projects,
           top: str | None = None) -> list[Group]:
    """Fold the SQL sums into the answer's groups, ordered by key (by the tree for ``parent``).

    For ``parent`` each row's project counts in itself and every ancestor, up to
    ``top`` when the query was narrowed to that project's subtree.
    """
    found: dict[str | None, Group] = {}
    for row in rows:
        keys: list[str | None] = [row.key]
        if query.group_by == "parent" and row.key is not None:
            chain = ancestry(projects, row.key)
            keys = list(chain[:chain.index(top) + 1] if top in chain else chain)
        for key in keys:
            group = found.get(key)
            if group is None:
                group = found[key] = _new_group(query.group_by, key, row.name, projects)
            group.add(row.start, row.figures)
    return sorted(found.values(), key=lambda g: g.order)


def _new_group(group_by: str, key: str | None, name: str | None, projects: Projects) -> Group:
    if not key:
        # Usage rolled up before the collector learnt the instance's project or flavor.
        return Group(key or "", UNKNOWN_NAME, order=("",), depth=0 if group_by == "parent" else None)
    if group_by in ("project", "parent"):
        known = projects.get(key or "")
        group = Group(key, known[0] if known else None, parent_id=known[1] if known else None)
        if group_by == "parent":
            path = list(reversed(ancestry(projects, key or "")))
            group.depth = len(path) - 1
            group.order = tuple(path)
        else:
            group.order = (key or "",)
        return group
    if group_by == "cell":
        return Group(key, key, order=(key or "",))
    return Group(key, name or key, order=(key or "",))


def _figure(name: str, value: float) -> float | int:
    return int(round(value)) if name in _BYTES else round(value, 6)


def figures(values: Mapping[str, float]) -> dict[str, float | int]:
    """The figures as the answer writes them: bytes as integers, hours to the microhour."""
    return {name: _figure(name, values[name]) for name in TOTALS}
