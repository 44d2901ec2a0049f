"""This agent's reads and writes of instance rows and of its host's usage counters.

Every change to an instance row is a compare-and-swap on ``version``: it
applies only to the version the agent saw, and bumps it, so a stale or
duplicated operation changes nothing. A claim is released in the same
transaction that takes the instance off the host (error or deleted).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from cells.db.cell_models import ComputeNode, Instance
from cells.db.engine import rowcount
from cells.db.types import utcnow
from cells.exception import CloudError
from compute_agent.capacity import Resources

INSTANCES = cast(sa.Table, Instance.__table__)
NODES = cast(sa.Table, ComputeNode.__table__)

# The full state of an instance as the API cell's index stores it.
UPDATE_FIELDS = ("uuid", "version", "cell_path", "host", "vm_state", "task_state", "power_state", "name",
                 "project_id", "user_id", "flavor", "image_ref", "metadata", "fault", "created_at",
                 "updated_at", "launched_at", "terminated_at", "deleted", "deleted_at")

_SYNC_COLUMNS = (INSTANCES.c.uuid, INSTANCES.c.host, INSTANCES.c.vm_state, INSTANCES.c.task_state,
                 INSTANCES.c.power_state, INSTANCES.c.vcpus, INSTANCES.c.memory_mb, INSTANCES.c.root_gb)


def iso(value: Any) -> Any:
    """Return datetimes as ISO-8601 strings, anything else unchanged."""
    return value.isoformat() if isinstance(value, dt.datetime) else value


def to_update(row: Mapping[str, Any], cell_path: str) -> dict[str, Any]:
    """Return the update sent up for an instance: its full state, datetimes as strings."""
    update = {name: iso(row.get(name)) for name in UPDATE_FIELDS}
    update["cell_path"] = cell_path
    update["deleted"] = bool(update["deleted"])
    return update


def make_fault(error: BaseException | str, code: int | None = None) -> dict[str, Any]:
    """Return an instance fault ``{code, message, created}`` for an exception or a message."""
    if isinstance(error, BaseException):
        code = code or (error.code if isinstance(error, CloudError) else 500)
        message = str(error) or type(error).__name__
    else:
        message = error
    return {"code": code or 500, "message": message[:1000], "created": utcnow().isoformat()}


def resources_of(row: Mapping[str, Any]) -> Resources:
    """Return what an instance claims on its host: vCPUs, RAM and its root disk."""
    return Resources(int(row["vcpus"]), int(row["memory_mb"]), int(row["root_gb"]))


def get(session: Session, uuid: str) -> dict[str, Any] | None:
    """Return the instance row as a dict (``metadata`` key), or None."""
    found = session.execute(sa.select(INSTANCES).where(INSTANCES.c.uuid == uuid)).mappings().first()
    return dict(found) if found is not None else None


def cas(session: Session, row: dict[str, Any], values: dict[str, Any]) -> dict[str, Any] | None:
    """Apply ``values`` to ``row`` if its version is still the one seen.

    Returns the row as now stored (version bumped), or None if someone else
    moved it first.
    """
    now = utcnow()
    changes = {**values, "version": row["version"] + 1, "updated_at": now}
    result = session.execute(
        sa.update(INSTANCES)
        .where(INSTANCES.c.uuid == row["uuid"], INSTANCES.c.version == row["version"])
        .values(**changes))
    if rowcount(result) != 1:
        return None
    return {**row, **changes}


def release_claim(session: Session, host: str, held: Resources) -> None:
    """Give back what one instance claimed on ``host`` (the scheduler's claim, reversed)."""
    session.execute(
        sa.update(NODES).where(NODES.c.host == host).values(
            vcpus_used=NODES.c.vcpus_used - held.vcpus,
            memory_mb_used=NODES.c.memory_mb_used - held.memory_mb,
            local_gb_used=NODES.c.local_gb_used - held.disk_gb,
            running_vms=NODES.c.running_vms - 1,
            generation=NODES.c.generation + 1))


def leave_host(session: Session, row: dict[str, Any], values: dict[str, Any]) -> dict[str, Any] | None:
    """CAS ``row`` to ``values`` and, if that applied, release its claim on its host.

    Used when an instance stops holding the host: a failed build (error, host
    cleared) or a delete. Returns the new row or None on a version conflict.
    """
    new = cas(session, row, values)
    if new is not None and row["host"]:
        release_claim(session, row["host"], resources_of(row))
    return new


def host_rows(session: Session, hosts: Sequence[str]) -> list[dict[str, Any]]:
    """Return the live (not deleted) rows of ``hosts``: the columns a resync needs."""
    query = sa.select(*_SYNC_COLUMNS).where(INSTANCES.c.host.in_(hosts), INSTANCES.c.deleted == sa.false())
    return [dict(r) for r in session.execute(query).mappings()]


def past_deadline(session: Session, hosts: Sequence[str], now: dt.datetime) -> list[dict[str, Any]]:
    """Return the live rows of ``hosts`` whose task deadline has passed."""
    query = sa.select(INSTANCES).where(
        INSTANCES.c.host.in_(hosts), INSTANCES.c.deleted == sa.false(),
        INSTANCES.c.task_deadline.is_not(None), INSTANCES.c.task_deadline < now)
    return [dict(r) for r in session.execute(query).mappings()]


def heal_usage(session: Session, hosts: Sequence[str]) -> int:
    """Recompute the usage counters of ``hosts`` from their live instance rows, in one UPDATE.

    Only rows that disagree are written (and their generation bumped).
    Returns how many hosts were corrected.
    """
    def total(column: Any) -> Any:
        return (sa.select(sa.func.coalesce(sa.func.sum(column), 0))
                .where(INSTANCES.c.host == NODES.c.host, INSTANCES.c.deleted == sa.false())
                .scalar_subquery())

    counted = {
        "vcpus_used": total(INSTANCES.c.vcpus),
        "memory_mb_used": total(INSTANCES.c.memory_mb),
        "local_gb_used": total(INSTANCES.c.root_gb),
        "running_vms": (sa.select(sa.func.count())
                        .where(INSTANCES.c.host == NODES.c.host, INSTANCES.c.deleted == sa.false())
                        .scalar_subquery()),
    }
    stale = sa.or_(*(NODES.c[name] != value for name, value in counted.items()))
    result = session.execute(
        sa.update(NODES).where(NODES.c.host.in_(hosts), stale)
        .values(**counted, generation=NODES.c.generation + 1))
    return rowcount(result)
