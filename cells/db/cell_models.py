"""Schema of a compute (or site) cell: services, compute nodes, instances, metering.

A compute cell's instance rows are the truth about its instances; every
change bumps ``version`` and is sent up. Compute nodes carry usage counters
that schedulers claim with a conditional UPDATE, so two schedulers never
over-commit a host. The metering tables hold the collector's raw samples,
hourly rollups and the instance and host metadata it enriches them with.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cells.db.types import NAME, PRECISE_TIME, UUID, ChildCapacityMixin, utcnow


class CellBase(DeclarativeBase):
    pass


class Service(CellBase):
    """A running daemon instance; ``identity`` is unique per process start-up lineage."""

    __tablename__ = "services"
    __table_args__ = (sa.UniqueConstraint("host", "binary", name="uq_services_host_binary"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    host: Mapped[str] = mapped_column(NAME)
    binary: Mapped[str] = mapped_column(sa.String(64))
    identity: Mapped[str] = mapped_column(UUID)
    disabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(NAME, nullable=True)
    last_seen_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)


class ComputeNode(CellBase):
    __tablename__ = "compute_nodes"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    host: Mapped[str] = mapped_column(NAME, unique=True)
    hypervisor_hostname: Mapped[str] = mapped_column(NAME)
    hypervisor_type: Mapped[str] = mapped_column(sa.String(32))
    cpu_model: Mapped[str] = mapped_column(NAME, default="")
    vcpus: Mapped[int] = mapped_column(sa.Integer)
    memory_mb: Mapped[int] = mapped_column(sa.BigInteger)
    local_gb: Mapped[int] = mapped_column(sa.BigInteger)
    vcpus_used: Mapped[int] = mapped_column(sa.Integer, default=0)
    memory_mb_used: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    local_gb_used: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    running_vms: Mapped[int] = mapped_column(sa.Integer, default=0)
    cpu_allocation_ratio: Mapped[float] = mapped_column(sa.Float, default=4.0)
    ram_allocation_ratio: Mapped[float] = mapped_column(sa.Float, default=1.0)
    disk_allocation_ratio: Mapped[float] = mapped_column(sa.Float, default=1.0)
    hs06_per_core: Mapped[float] = mapped_column(sa.Float, default=10.0)
    generation: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)


class Instance(CellBase):
    __tablename__ = "instances"
    __table_args__ = (
        sa.Index("ix_cell_instances_host", "host", "deleted"),
        sa.Index("ix_cell_instances_deadline", "task_deadline"),
        sa.Index("ix_cell_instances_project", "project_id", "deleted", "created_at"),
    )

    uuid: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(sa.String(64))
    user_id: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(NAME)
    host: Mapped[str | None] = mapped_column(NAME, nullable=True)
    vm_state: Mapped[str] = mapped_column(sa.String(32))
    task_state: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    power_state: Mapped[int] = mapped_column(sa.Integer, default=0)
    flavor: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    vcpus: Mapped[int] = mapped_column(sa.Integer)
    memory_mb: Mapped[int] = mapped_column(sa.Integer)
    root_gb: Mapped[int] = mapped_column(sa.Integer)
    image_ref: Mapped[str] = mapped_column(sa.String(64))
    key_name: Mapped[str | None] = mapped_column(NAME, nullable=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", sa.JSON, default=dict)
    availability_zone: Mapped[str | None] = mapped_column(NAME, nullable=True)
    fault: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    version: Mapped[int] = mapped_column(sa.BigInteger, default=1)
    task_deadline: Mapped[dt.datetime | None] = mapped_column(sa.DateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)
    launched_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime, nullable=True)
    terminated_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime, nullable=True)
    deleted: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime, nullable=True)


class ChildCapacity(ChildCapacityMixin, CellBase):
    __tablename__ = "child_capacity"


# --- metering (the cell's collector) -------------------------------------------------

# Sample times are integer microseconds since the epoch: exact keys for deduplication, cheap to
# compare, and the same on SQLite and MariaDB.
SAMPLE_TIME = sa.BigInteger


class MeteringSample(CellBase):
    """One raw sample as the agents sent it, kept for ``metering.raw_retention``.

    The natural key (resource, meter, time) is the primary key, led by the
    instance (a resource belongs to one instance): a replayed or duplicated
    sample is ignored on insert, and a rollup reads one instance's meters over a
    time range straight from the clustered key, with no second index to keep.
    """

    __tablename__ = "metering_samples"
    __table_args__ = (
        sa.Index("ix_metering_samples_time", "timestamp_us"),
    )

    instance_id: Mapped[str] = mapped_column(UUID, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    timestamp_us: Mapped[int] = mapped_column(SAMPLE_TIME, primary_key=True, autoincrement=False)
    resource_id: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    volume: Mapped[float] = mapped_column(sa.Double)
    unit: Mapped[str] = mapped_column(sa.String(16))
    type: Mapped[str] = mapped_column(sa.String(16))
    host: Mapped[str | None] = mapped_column(NAME, nullable=True)
    project_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    user_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    metadata_: Mapped[str | None] = mapped_column("metadata", sa.Text, nullable=True)


class MeteringRollup(CellBase):
    """An instance's usage in one bucket (an hour, unless shortened), recomputed from raw samples.

    Every write takes the next ``metering_revision``, so the API cell pages by revision.
    """

    __tablename__ = "metering_rollups"
    __table_args__ = (sa.Index("ix_metering_rollups_revision", "revision"),)

    instance_id: Mapped[str] = mapped_column(UUID, primary_key=True)
    hour: Mapped[dt.datetime] = mapped_column(PRECISE_TIME, primary_key=True)
    hour_seconds: Mapped[float] = mapped_column(sa.Double)
    project_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    user_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    flavor_id: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    flavor_name: Mapped[str | None] = mapped_column(NAME, nullable=True)
    vcpus: Mapped[int] = mapped_column(sa.Integer)
    ram_mb: Mapped[int] = mapped_column(sa.Integer)
    disk_gb: Mapped[int] = mapped_column(sa.Integer)
    host: Mapped[str | None] = mapped_column(NAME, nullable=True)
    hs06_per_core: Mapped[float] = mapped_column(sa.Double)
    seconds: Mapped[float] = mapped_column(sa.Double)
    vcpu_hours: Mapped[float] = mapped_column(sa.Double)
    hs06_hours: Mapped[float] = mapped_column(sa.Double)
    ram_gb_hours: Mapped[float] = mapped_column(sa.Double)
    disk_gb_hours: Mapped[float] = mapped_column(sa.Double)
    net_in_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    net_out_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    samples: Mapped[int] = mapped_column(sa.Integer)
    revision: Mapped[int] = mapped_column(sa.BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)


class MeteringInstance(CellBase):
    """What the collector learnt of an instance from the cell-local API; outlives the instance."""

    __tablename__ = "metering_instances"

    instance_id: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    user_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    flavor_id: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    flavor_name: Mapped[str | None] = mapped_column(NAME, nullable=True)
    vcpus: Mapped[int] = mapped_column(sa.Integer, default=0)
    ram_mb: Mapped[int] = mapped_column(sa.Integer, default=0)
    disk_gb: Mapped[int] = mapped_column(sa.Integer, default=0)
    launched_at: Mapped[dt.datetime | None] = mapped_column(PRECISE_TIME, nullable=True)
    host: Mapped[str | None] = mapped_column(NAME, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)


class MeteringHost(CellBase):
    """A host's CPU performance as the cell-local API last showed it (kept if the host goes)."""

    __tablename__ = "metering_hosts"

    host: Mapped[str] = mapped_column(NAME, primary_key=True)
    hs06_per_core: Mapped[float] = mapped_column(sa.Double)
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)


class MeteringRevision(CellBase):
    """One row: the last revision given to a rollup write; its row lock orders those writes."""

    __tablename__ = "metering_revision"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(sa.BigInteger, default=0)
