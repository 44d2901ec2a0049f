"""Host claims: the cell's instance row and the host's usage, written in one transaction.

A claim is an INSERT of the instance row and a conditional increment of the
host's usage counters that only matches while the instance still fits
(``vcpus_used + :v <= vcpus * cpu_allocation_ratio`` and so on). Zero rows
updated means another scheduler took the room first: the transaction rolls
back, so usage counters always equal the sum over the instances claimed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cells import states
from cells.config import CellConfig
from cells.db.cell_models import ComputeNode, Instance
from scheduler.host_state import Usage

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."

# Fields of an instance update as the API cell's index stores them.
UPDATE_FIELDS = (
    "uuid", "version", "cell_path", "host", "vm_state", "task_state", "power_state", "name",
    "project_id", "user_id", "flavor", "image_ref", "metadata", "fault", "created_at", "updated_at",
    "launched_at", "terminated_at", "deleted", "deleted_at",
)

_INSTANCES = cast(sa.Table, Instance.__table__)
_NODES = cast(sa.Table, ComputeNode.__table__)


class HostFull(Exception):
    """The conditional increment matched no row: the host no longer has room."""


def _parse_time(value: Any, default: dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return default
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
        return parsed
    return default


def instance_values(request: Mapping[str, Any], conf: CellConfig, now: dt.datetime) -> dict[str, Any]:
    """Return the column values of a new instance row (building/spawning, no host yet).

    ``request`` is a build request (``{"instance": {...}, "image": {...}}``);
    raises KeyError or ValueError if it lacks the instance's uuid, owner or flavor.
    """
    inst = request["instance"]
    image = request.get("image") or {}
    flavor = dict(inst["flavor"])
    usage = Usage.of_flavor(flavor)
    return {
        "uuid": inst["uuid"],
        "project_id": inst["project_id"],
        "user_id": inst["user_id"],
        "name": inst.get("name") or "",
        "host": None,
        "vm_state": states.BUILDING,
        "task_state": states.SPAWNING,
        "power_state": states.NOSTATE,
        "flavor": flavor,
        "vcpus": usage.vcpus,
        "memory_mb": usage.memory_mb,
        "root_gb": usage.disk_gb,
        "image_ref": inst.get("image_ref") or image.get("id") or "",
        "key_name": inst.get("key_name"),
        "metadata": dict(inst.get("metadata") or {}),
        "availability_zone": inst.get("availability_zone"),
        "fault": None,
        "version": 1,
        "task_deadline": now + dt.timedelta(seconds=conf.transition_timeout),
        # Keep the index's creation time so the update up does not move it.
        "created_at": _parse_time(inst.get("created_at"), now),
        "updated_at": now,
        "launched_at": None,
        "terminated_at": None,
        "deleted": False,
        "deleted_at": None,
    }


def no_valid_host_fault(now: dt.datetime) -> dict[str, Any]:
    """Return the fault recorded on an instance no host could take."""
    return {"code": 500, "message": NO_VALID_HOST, "created": now.isoformat()}


def error_values(values: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    """Return ``values`` turned into an instance in error with the no-valid-host fault."""
    return {**values, "host": None, "vm_state": states.ERROR, "task_state": None,
            "task_deadline": None, "fault": no_valid_host_fault(now), "updated_at": now}


def claim(session: Session, host_id: int, usage: Usage, values: Mapping[str, Any]) -> None:
    """Insert the instance row and take ``usage`` on host ``host_id``, in ``session``'s transaction.

    Raises HostFull if the host has no room left (the caller's transaction
    must roll back) and IntegrityError if the instance row already exists.
    """
    session.execute(_INSTANCES.insert().values(**values))
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        _NODES.update()
        .where(_NODES.c.id == host_id)
        .where(_NODES.c.vcpus_used + usage.vcpus <= _NODES.c.vcpus * _NODES.c.cpu_allocation_ratio)
        .where(_NODES.c.memory_mb_used + usage.memory_mb
               <= _NODES.c.memory_mb * _NODES.c.ram_allocation_ratio)
        .where(_NODES.c.local_gb_used + usage.disk_gb
               <= _NODES.c.local_gb * _NODES.c.disk_allocation_ratio)
        .values(vcpus_used=_NODES.c.vcpus_used + usage.vcpus,
                memory_mb_used=_NODES.c.memory_mb_used + usage.memory_mb,
                local_gb_used=_NODES.c.local_gb_used + usage.disk_gb,
                running_vms=_NODES.c.running_vms + 1,
                generation=_NODES.c.generation + 1)
    )
    if result.rowcount != 1:
        raise HostFull(host_id)


def insert(session: Session, values: Mapping[str, Any]) -> None:
    """Insert an instance row without a host (the no-valid-host case); IntegrityError if it exists."""
    session.execute(_INSTANCES.insert().values(**values))


def load(session: Session, uuid: str) -> dict[str, Any] | None:
    """Return an instance row's column values, or None if there is no such row."""
    row = session.execute(sa.select(_INSTANCES).where(_INSTANCES.c.uuid == uuid)).mappings().first()
    return dict(row) if row is not None else None


def awaits_build(values: Mapping[str, Any] | None) -> bool:
    """True if the row was claimed on a host and its agent has not reported on it yet."""
    return (values is not None and values.get("host") is not None and values["version"] == 1
            and values["vm_state"] == "building" and values["task_state"] == "spawning")


def is_duplicate(exc: IntegrityError) -> bool:
    """True if ``exc`` says the instance row exists already (a redelivered request)."""
    args = getattr(exc.orig, "args", None)
    code = args[0] if args else None
    # MariaDB: ER_DUP_ENTRY; SQLite: a UNIQUE or PRIMARY KEY violation.
    return code == 1062 or "UNIQUE constraint failed" in str(exc.orig)


def primitive(values: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``values`` with datetimes as ISO-8601 strings, fit for a message."""
    return {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in values.items()}


def to_update(values: Mapping[str, Any], cell_path: str) -> dict[str, Any]:
    """Return the instance update (full state, as the index stores it) for an instance row."""
    update = {k: values.get(k) for k in UPDATE_FIELDS}
    update["cell_path"] = cell_path
    return primitive(update)
