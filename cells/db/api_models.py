"""Schema of the API cell: flavors, the instance index, children's capacity and gathered usage.

The instance index is a cache of the compute cells' truth, kept current by
versioned updates flowing up and healed by periodic sync.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cells.db.types import NAME, PRECISE_TIME, UUID, ChildCapacityMixin, utcnow


class ApiBase(DeclarativeBase):
    pass


class Flavor(ApiBase):
    __tablename__ = "flavors"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    flavorid: Mapped[str] = mapped_column(NAME, unique=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    vcpus: Mapped[int] = mapped_column(sa.Integer)
    memory_mb: Mapped[int] = mapped_column(sa.Integer)
    root_gb: Mapped[int] = mapped_column(sa.Integer, default=0)
    ephemeral_gb: Mapped[int] = mapped_column(sa.Integer, default=0)
    swap: Mapped[int] = mapped_column(sa.Integer, default=0)
    rxtx_factor: Mapped[float] = mapped_column(sa.Float, default=1.0)
    is_public: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    disabled: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    description: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    extra_specs: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)


class InstanceIndex(ApiBase):
    """Every instance of the cloud: owner, cell path, state and what the API shows of it."""

    __tablename__ = "instances"
    __table_args__ = (
        sa.Index("ix_instances_project_created", "project_id", "deleted", "created_at", "uuid"),
        sa.Index("ix_instances_deleted_created", "deleted", "created_at", "uuid"),
        sa.Index("ix_instances_task_updated", "task_state", "updated_at"),
    )

    uuid: Mapped[str] = mapped_column(UUID, primary_key=True)
    project_id: Mapped[str] = mapped_column(sa.String(64))
    user_id: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(NAME)
    cell_path: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    host: Mapped[str | None] = mapped_column(NAME, nullable=True)
    vm_state: Mapped[str] = mapped_column(sa.String(32))
    task_state: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    power_state: Mapped[int] = mapped_column(sa.Integer, default=0)
    flavor: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    image_ref: Mapped[str] = mapped_column(sa.String(64))
    key_name: Mapped[str | None] = mapped_column(NAME, nullable=True)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", sa.JSON, default=dict)
    availability_zone: Mapped[str | None] = mapped_column(NAME, nullable=True)
    fault: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON, nullable=True)
    version: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)
    launched_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime, nullable=True)
    terminated_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime, nullable=True)
    deleted: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(sa.DateTime, nullable=True)


class ChildCapacity(ChildCapacityMixin, ApiBase):
    __tablename__ = "child_capacity"


class ImagePrestage(ApiBase):
    """One push of an image to every host of a compute cell, and how far it got.

    The API writes the row (``queued``); the cell's scheduler reports progress up as
    versioned messages, applied only when newer, so reordered reports never move it back.
    """

    __tablename__ = "image_prestages"
    __table_args__ = (
        sa.Index("ix_image_prestages_created", "created_at", "id"),
        sa.Index("ix_image_prestages_status_updated", "status", "updated_at"),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    image_id: Mapped[str] = mapped_column(sa.String(64))
    image_name: Mapped[str | None] = mapped_column(NAME, nullable=True)
    cell_path: Mapped[str] = mapped_column(sa.String(255))
    status: Mapped[str] = mapped_column(sa.String(16))
    hosts_total: Mapped[int] = mapped_column(sa.Integer, default=0)
    hosts_done: Mapped[int] = mapped_column(sa.Integer, default=0)
    hosts_failed: Mapped[int] = mapped_column(sa.Integer, default=0)
    # How the hosts done got the image: already held it, from the cell's endpoint, from a peer.
    hosts_cached: Mapped[int] = mapped_column(sa.Integer, default=0)
    from_endpoint: Mapped[int] = mapped_column(sa.Integer, default=0)
    from_peers: Mapped[int] = mapped_column(sa.Integer, default=0)
    depth: Mapped[int] = mapped_column(sa.Integer, default=0)
    # The run's settings: those the request asked for, else None until the cell reports its own.
    endpoint_copies: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    peer_copies: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    failures: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    version: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    user_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    project_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)
    # To the microsecond: a run of many hosts may take only seconds.
    started_at: Mapped[dt.datetime | None] = mapped_column(PRECISE_TIME, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(PRECISE_TIME, nullable=True)


class UsageHourly(ApiBase):
    """One instance's usage in one hour bucket, as its compute cell's collector rolled it up.

    Gathered from every compute cell by the API cell's ``cloud-metering``; a later
    ``revision`` of the same (cell, instance, hour) replaces the row, so replays and
    reordered answers never move a figure backwards.
    """

    __tablename__ = "usage_hourly"
    __table_args__ = (
        sa.Index("ix_usage_hourly_hour", "hour"),
        sa.Index("ix_usage_hourly_project_hour", "project_id", "hour"),
    )

    cell_path: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    instance_id: Mapped[str] = mapped_column(UUID, primary_key=True)
    # To the microsecond: a bucket shortened for tests or demos may start within a second.
    hour: Mapped[dt.datetime] = mapped_column(PRECISE_TIME, primary_key=True)
    # The bucket's start in seconds since the epoch: lets SQL pro-rate a bucket cut by a
    # period's edge with plain arithmetic on both SQLite and MariaDB.
    hour_epoch: Mapped[float] = mapped_column(sa.Double)
    hour_seconds: Mapped[float] = mapped_column(sa.Double)
    # None while the collector has not yet learnt the instance's owner; a later revision tells.
    project_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    user_id: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    flavor_id: Mapped[str | None] = mapped_column(NAME, nullable=True)
    flavor_name: Mapped[str | None] = mapped_column(NAME, nullable=True)
    vcpus: Mapped[int] = mapped_column(sa.Integer, default=0)
    ram_mb: Mapped[int] = mapped_column(sa.Integer, default=0)
    disk_gb: Mapped[int] = mapped_column(sa.Integer, default=0)
    host: Mapped[str | None] = mapped_column(NAME, nullable=True)
    hs06_per_core: Mapped[float] = mapped_column(sa.Double, default=0.0)
    seconds: Mapped[float] = mapped_column(sa.Double, default=0.0)
    vcpu_hours: Mapped[float] = mapped_column(sa.Double, default=0.0)
    hs06_hours: Mapped[float] = mapped_column(sa.Double, default=0.0)
    ram_gb_hours: Mapped[float] = mapped_column(sa.Double, default=0.0)
    disk_gb_hours: Mapped[float] = mapped_column(sa.Double, default=0.0)
    net_in_bytes: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    net_out_bytes: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    samples: Mapped[int] = mapped_column(sa.Integer, default=0)
    revision: Mapped[int] = mapped_column(sa.BigInteger)


class UsageCursor(ApiBase):
    """The highest rollup revision received from a compute cell: where the next request starts."""

    __tablename__ = "usage_cursors"

    cell_path: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    revision: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)
