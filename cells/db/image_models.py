"""Schema of the image registry.

The same table serves the master registry of the API cell and the cache
registry of a compute cell's read-through cache: a cached row is a copy of
the master's row, kept while the cache holds the image.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from cells.db.types import NAME, UUID, utcnow


class ImageBase(DeclarativeBase):
    pass


class Image(ImageBase):
    """One image: its metadata, the hashes of its data and who may see it."""

    __tablename__ = "images"
    __table_args__ = (
        # Default listing order (created_at desc, id desc) for one owner and for everyone.
        sa.Index("ix_images_owner_deleted_created", "owner", "deleted", "created_at", "id"),
        sa.Index("ix_images_visibility_deleted_created", "visibility", "deleted", "created_at", "id"),
        sa.Index("ix_images_deleted_created", "deleted", "created_at", "id"),
        sa.Index("ix_images_name", "name"),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    name: Mapped[str | None] = mapped_column(NAME, nullable=True)
    # queued | saving | active | killed | deleted | pending_delete
    status: Mapped[str] = mapped_column(sa.String(30), default="queued")
    disk_format: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    container_format: Mapped[str | None] = mapped_column(sa.String(20), nullable=True)
    size: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    virtual_size: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    checksum: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    os_hash_algo: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    os_hash_value: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    min_disk: Mapped[int] = mapped_column(sa.Integer, default=0)
    min_ram: Mapped[int] = mapped_column(sa.Integer, default=0)
    # public | private | shared | community
    visibility: Mapped[str] = mapped_column(sa.String(20), default="shared")
    protected: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    owner: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    properties: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)
    deleted: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class ImageMember(ImageBase):
    """A project an image is shared with (visibility ``shared``), and whether it accepted."""

    __tablename__ = "image_members"

    image_id: Mapped[str] = mapped_column(UUID, sa.ForeignKey("images.id", ondelete="CASCADE"),
                                          primary_key=True)
    member_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True, index=True)
    # pending | accepted | rejected
    status: Mapped[str] = mapped_column(sa.String(20), default="pending")
    created_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)


class ImageQuota(ImageBase):
    """A project's image limits; a missing row or a null limit means the configured default,
    -1 means unlimited."""

    __tablename__ = "image_quotas"

    project_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    images: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    image_bytes: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    snapshot_bytes: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(sa.DateTime, default=utcnow)
