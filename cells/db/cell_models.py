"""Schema of a compute (or site) cell: services, compute nodes, instances.

A compute cell's instance rows are the truth about its instances; every
change bumps ``version`` and is sent up. Compute nodes carry usage counters
that schedulers claim with a conditional UPDATE, so two schedulers never
over-commit a host.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cells.db.types import NAME, UUID, ChildCapacityMixin, utcnow


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
