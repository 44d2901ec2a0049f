"""Reads of the usage gathered from the compute cells (``usage_hourly``), summed in SQL.

An "hour" is one rollup bucket (``hour_seconds`` long: 3600 but in tests and
demos), as the collectors count vCPU-hours, so every figure here is too.

A bucket overlapping the asked period ``[start, end)`` counts in proportion to
the part of it inside the period; the weight is computed in SQL from the
bucket's start in epoch seconds, so one GROUP BY answers each question on
SQLite and MariaDB alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from cells.db.api_models import InstanceIndex, UsageHourly
from cells.db.engine import Database
from cells.db.identity_models import Project

USAGE = cast(sa.Table, UsageHourly.__table__)
INDEX = cast(sa.Table, InstanceIndex.__table__)
PROJECTS = cast(sa.Table, Project.__table__)
# The longest bucket the configuration allows (metering.hour_seconds <= 3600): a bucket
# overlapping the period starts after start - this, which lets the (hour) indexes narrow the scan.
MAX_BUCKET = dt.timedelta(seconds=3600)
EPOCH = dt.datetime(1970, 1, 1)
# The key of usage whose project (or flavor) the collector did not know yet when it rolled it up.
UNKNOWN = ""
# The figures summed for the accounting API, each weighted by the bucket's share in the period.
FIGURES = ("vcpu_hours", "hs06_hours", "ram_gb_hours", "disk_gb_hours", "net_in_bytes", "net_out_bytes")


def epoch(value: dt.datetime) -> float:
    """Seconds since the epoch of a naive UTC time."""
    return value.replace(tzinfo=dt.UTC).timestamp()


@dataclass(frozen=True)
class Window:
    """The period ``[start, end)`` (naive UTC) and the SQL that selects and weighs its buckets."""

    start: dt.datetime
    end: dt.datetime

    @property
    def lower(self) -> dt.datetime:
        """The start, or the epoch for a start before it (no usage is older; year 1 minus an hour
        cannot even be computed)."""
        return max(self.start, EPOCH)

    def where(self) -> list[ColumnElement[bool]]:
        s, e = epoch(self.lower), epoch(self.end)
        return [USAGE.c.hour < self.end, USAGE.c.hour > self.lower - MAX_BUCKET,
                USAGE.c.hour_epoch < e, USAGE.c.hour_epoch + USAGE.c.hour_seconds > s]

    def weight(self) -> ColumnElement[Any]:
        """The share of each bucket inside the period, 1.0 for a bucket wholly in it."""
        s, e = epoch(self.lower), epoch(self.end)
        bucket_end = USAGE.c.hour_epoch + USAGE.c.hour_seconds
        lo = sa.case((USAGE.c.hour_epoch > s, USAGE.c.hour_epoch), else_=sa.literal(s))
        hi = sa.case((bucket_end < e, bucket_end), else_=sa.literal(e))
        return (hi - lo) / USAGE.c.hour_seconds


@dataclass(frozen=True)
class InstanceUsage:
    """One instance's usage in a period, and the latest shape the rollups gave it."""

    instance_id: str
    project_id: str
    hours: float
    vcpu_hours: float
    memory_mb_hours: float
    disk_gb_hours: float
    vcpus: int
    ram_mb: int
    disk_gb: int
    flavor_name: str | None
    first_hour: dt.datetime
    last_end_epoch: float


def instance_usages(db: Database, window: Window, project_id: str | None, marker: str | None,
                    limit: int) -> list[InstanceUsage]:
    """Usage per instance in ``window`` by instance id, after ``marker``, at most ``limit`` (one SELECT)."""
    w = window.weight()
    query = (sa.select(
        USAGE.c.instance_id, USAGE.c.project_id,
        sa.func.sum(USAGE.c.seconds / USAGE.c.hour_seconds * w).label("hours"),
        sa.func.sum(USAGE.c.vcpu_hours * w).label("vcpu_hours"),
        sa.func.sum(USAGE.c.ram_mb * USAGE.c.seconds / USAGE.c.hour_seconds * w).label("ram_mb_hours"),
        sa.func.sum(USAGE.c.disk_gb_hours * w).label("disk_gb_hours"),
        sa.func.max(USAGE.c.vcpus).label("vcpus"), sa.func.max(USAGE.c.ram_mb).label("ram_mb"),
        sa.func.max(USAGE.c.disk_gb).label("disk_gb"),
        sa.func.max(USAGE.c.flavor_name).label("flavor_name"),
        sa.func.min(USAGE.c.hour).label("first_hour"),
        sa.func.max(USAGE.c.hour_epoch + USAGE.c.hour_seconds).label("last_end"))
        .where(*window.where())
        .group_by(USAGE.c.instance_id, USAGE.c.project_id)
        .order_by(USAGE.c.instance_id).limit(limit))
    if project_id is not None:
        query = query.where(USAGE.c.project_id == project_id)
    if marker:
        query = query.where(USAGE.c.instance_id > marker)
    with db.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [InstanceUsage(
        instance_id=r.instance_id, project_id=r.project_id or UNKNOWN, hours=float(r.hours or 0),
        vcpu_hours=float(r.vcpu_hours or 0), memory_mb_hours=float(r.ram_mb_hours or 0),
        disk_gb_hours=float(r.disk_gb_hours or 0), vcpus=int(r.vcpus or 0), ram_mb=int(r.ram_mb or 0),
        disk_gb=int(r.disk_gb or 0), flavor_name=r.flavor_name, first_hour=r.first_hour,
        last_end_epoch=float(r.last_end or 0)) for r in rows]


def index_rows(db: Database, uuids: Sequence[str]) -> dict[str, Any]:
    """The instance index's rows of ``uuids`` (deleted ones included), by uuid (one SELECT)."""
    if not uuids:
        return {}
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(
            INDEX.c.uuid, INDEX.c.name, INDEX.c.vm_state, INDEX.c.flavor, INDEX.c.launched_at,
            INDEX.c.created_at, INDEX.c.terminated_at, INDEX.c.deleted, INDEX.c.deleted_at)
            .where(INDEX.c.uuid.in_(list(uuids)))).all()
    return {row.uuid: row for row in rows}


# --- accounting ------------------------------------------------------------------

KEYS: dict[str, tuple[sa.Column[Any], ...]] = {
    "project": (USAGE.c.project_id,),
    "parent": (USAGE.c.project_id,),
    "cell": (USAGE.c.cell_path,),
    "flavor": (USAGE.c.flavor_id,),
}


def _period(dialect: str, granularity: str) -> ColumnElement[Any]:
    """The SQL expression naming a bucket's period: the bucket itself, or its UTC day or month."""
    if granularity == "hour":
        return USAGE.c.hour
    fmt = "%Y-%m-%d" if granularity == "day" else "%Y-%m"
    if dialect == "sqlite":
        return sa.func.strftime(fmt, USAGE.c.hour)
    return sa.func.date_format(USAGE.c.hour, fmt)


@dataclass(frozen=True)
class PeriodSums:
    """The weighted sums of one group key in one period."""

    key: str
    name: str | None
    period: Any  # a datetime (hour) or "YYYY-MM-DD" / "YYYY-MM"
    figures: dict[str, float]


def period_sums(db: Database, window: Window, granularity: str, group_by: str,
                project_ids: Sequence[str] | None) -> list[PeriodSums]:
    """Weighted sums per group key and period of ``window`` (one SELECT with GROUP BY).

    ``project_ids``: only these projects' usage (None: every project's).
    """
    w = window.weight()
    period = _period(db.engine.dialect.name, granularity).label("period")
    (key,) = KEYS[group_by]
    name = sa.func.max(USAGE.c.flavor_name) if group_by == "flavor" else sa.literal(None)
    sums = [sa.func.sum(USAGE.c[f] * w).label(f) for f in FIGURES]
    sums.append(sa.func.sum(USAGE.c.seconds / USAGE.c.hour_seconds * w).label("instance_hours"))
    query = (sa.select(key.label("key"), name.label("name"), period, *sums)
             .where(*window.where()).group_by(key, period))
    if project_ids is not None:
        query = query.where(USAGE.c.project_id.in_(list(project_ids)))
    with db.engine.connect() as conn:
        rows = conn.execute(query).all()
    names = (*FIGURES, "instance_hours")
    return [PeriodSums(r.key or UNKNOWN, r.name, r.period, {n: float(getattr(r, n) or 0) for n in names})
            for r in rows]


def projects(db: Database) -> dict[str, tuple[str, str | None]]:
    """Every project's (name, parent id), by id (one SELECT)."""
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(PROJECTS.c.id, PROJECTS.c.name, PROJECTS.c.parent_id)).all()
    return {row.id: (row.name, row.parent_id) for row in rows}
