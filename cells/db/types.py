"""Column types and mixins shared by the schemas."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column


def utcnow() -> dt.datetime:
    """Naive UTC now, as every DATETIME column stores it."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def new_uuid() -> str:
    return str(uuid.uuid4())


UUID = sa.String(36)
NAME = sa.String(255)
# Times compared with sub-second precision (revocation events against token iat): MariaDB's plain
# DATETIME drops the fraction, so ask it for microseconds.
PRECISE_TIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
JSONType = sa.JSON().with_variant(sa.Text(), "never")  # portable JSON on MariaDB and SQLite


class ChildCapacityMixin:
    """Capacity a child cell last reported upward; the cell scheduler chooses from these."""

    cell_path: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    vcpus_free: Mapped[int] = mapped_column(sa.Integer, default=0)
    ram_mb_free: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    disk_gb_free: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    vcpus_total: Mapped[int] = mapped_column(sa.Integer, default=0)
    ram_mb_total: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    disk_gb_total: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    hosts_up: Mapped[int] = mapped_column(sa.Integer, default=0)
    hosts_total: Mapped[int] = mapped_column(sa.Integer, default=0)
    hs06_free: Mapped[float] = mapped_column(sa.Float, default=0.0)
    largest_free_ram_mb: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    largest_free_vcpus: Mapped[int] = mapped_column(sa.Integer, default=0)
    capabilities: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    reported_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)
