"""Instance updates: the full, versioned state a cell sends up for one instance.

Compute agents, schedulers and the cells daemon build updates here, and the
API cell turns them back into index columns, so both ends agree on the format.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from cells.db import cell_models
from cells.db.types import utcnow

# Index columns an update carries, besides uuid and version.
STATE_FIELDS = ("cell_path", "host", "vm_state", "task_state", "power_state", "name",
                "project_id", "user_id", "flavor", "image_ref", "key_name", "metadata",
                "availability_zone", "fault", "created_at", "updated_at", "launched_at",
                "terminated_at", "deleted", "deleted_at")
# What a delete that overtook its build can tell: state, not owner or flavor.
TOMBSTONE_FIELDS = ("uuid", "version", "cell_path", "host", "vm_state", "task_state",
                    "power_state", "deleted", "deleted_at", "terminated_at")
# Set when the API cell creates the index row and never taken from a cell: a
# cell cannot move an instance to another project or reorder the listing.
INDEX_OWNED = ("project_id", "user_id", "created_at")
_DATETIMES = ("created_at", "updated_at", "launched_at", "terminated_at", "deleted_at")


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def from_row(row: cell_models.Instance, cell_path: str) -> dict[str, Any]:
    """Return the update for a cell instance row (datetimes as ISO-8601 strings)."""
    return {
        "uuid": row.uuid, "version": row.version, "cell_path": cell_path, "host": row.host,
        "vm_state": row.vm_state, "task_state": row.task_state, "power_state": row.power_state,
        "name": row.name, "project_id": row.project_id, "user_id": row.user_id,
        "flavor": row.flavor, "image_ref": row.image_ref, "key_name": row.key_name,
        "metadata": row.metadata_ or {}, "availability_zone": row.availability_zone,
        "fault": row.fault, "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at),
        "launched_at": _iso(row.launched_at), "terminated_at": _iso(row.terminated_at),
        "deleted": bool(row.deleted), "deleted_at": _iso(row.deleted_at),
    }


def to_index_values(update: dict[str, Any]) -> dict[str, Any]:
    """Return the index column values of an update (datetimes parsed, metadata renamed)."""
    values: dict[str, Any] = {}
    for name in STATE_FIELDS:
        if name not in update or name in INDEX_OWNED:
            continue
        value = update[name]
        if name in _DATETIMES and isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        values["metadata_" if name == "metadata" else name] = value
    values["version"] = update["version"]
    return values


def fault(message: str, code: int = 500) -> dict[str, Any]:
    """Return a fault record as instances store and the API shows it."""
    return {"code": code, "message": message, "created": utcnow().isoformat()}
