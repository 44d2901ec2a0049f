"""Operations of a compute cell's cells daemon on its own instance rows.

Deletes of instances no agent can handle (never scheduled, or on a host that
is down), deadline resolution, and the rows a periodic sync re-sends. Every
change is a compare-and-swap on ``version``; the caller sends the returned
update up.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cells import instances, states
from cells.db.cell_models import ComputeNode, Instance, Service
from cells.db.engine import Database, rowcount
from cells.db.types import utcnow


def get_instance(db: Database, uuid: str) -> Instance | None:
    with db.session() as session:
        return session.get(Instance, uuid)


def host_is_up(db: Database, host: str, service_down_time: float) -> bool:
    cutoff = utcnow() - dt.timedelta(seconds=service_down_time)
    with db.session() as session:
        seen = session.scalar(sa.select(Service.last_seen_at).where(
            Service.host == host, Service.binary == "cloud-compute"))
    return seen is not None and seen >= cutoff


def release_claim(session: Session, row: Instance) -> None:
    """Give the instance's resources back to its host (inside the caller's transaction)."""
    session.execute(
        sa.update(ComputeNode).where(ComputeNode.host == row.host).values(
            vcpus_used=ComputeNode.vcpus_used - row.vcpus,
            memory_mb_used=ComputeNode.memory_mb_used - row.memory_mb,
            local_gb_used=ComputeNode.local_gb_used - row.root_gb,
            running_vms=ComputeNode.running_vms - 1,
            generation=ComputeNode.generation + 1,
        )
    )


def _cas(session: Session, row: Instance, **values: Any) -> bool:
    values.setdefault("updated_at", utcnow())
    result = session.execute(
        sa.update(Instance).where(Instance.uuid == row.uuid, Instance.version == row.version)
        .values(version=row.version + 1, **values)
    )
    if rowcount(result) != 1:
        return False
    for name, value in values.items():
        setattr(row, name, value)
    row.version += 1
    return True


def delete_locally(db: Database, uuid: str, cell_path: str) -> dict[str, Any] | None:
    """Delete an instance that has no live agent to do it; returns the update, None if gone."""
    for _attempt in range(5):
        row = get_instance(db, uuid)
        if row is None or row.deleted:
            return None
        now = utcnow()

        def work(session: Session, row: Instance = row, now: dt.datetime = now) -> bool:
            if not _cas(session, row, vm_state=states.DELETED, task_state=None, deleted=True,
                        deleted_at=now, terminated_at=now, task_deadline=None):
                return False
            if row.host:
                release_claim(session, row)
            return True

        if db.transaction(work):
            return instances.from_row(row, cell_path)
    return None


def tombstone(db: Database, uuid: str, cell_path: str,
              known: dict[str, Any]) -> dict[str, Any] | None:
    """Record a delete for an instance whose build has not arrived yet.

    The build, when it comes, finds the row and is dropped (builds are
    idempotent on uuid). Returns the update saying it is deleted, carrying
    state only (the index keeps the owner it has), or None if the build's
    row appeared meanwhile and the caller must act on that row instead.
    """
    now = utcnow()
    row = Instance(
        uuid=uuid, project_id=known.get("project_id", ""), user_id=known.get("user_id", ""),
        name=known.get("name", ""), host=None, vm_state=states.DELETED, task_state=None,
        power_state=states.NOSTATE, flavor={}, vcpus=0, memory_mb=0, root_gb=0,
        image_ref=known.get("image_ref", ""), metadata_={}, version=1, created_at=now,
        updated_at=now, deleted=True, deleted_at=now, terminated_at=now,
    )

    def work(session: Session) -> bool:
        if session.get(Instance, uuid) is not None:
            return False
        session.add(row)
        session.flush()
        return True

    try:
        inserted = db.transaction(work)
    except IntegrityError:  # the build's row was inserted at the same moment
        return None
    if not inserted:
        return None
    full = instances.from_row(row, cell_path)
    return {k: full[k] for k in instances.TOMBSTONE_FIELDS}


def overdue(db: Database, grace: float, limit: int) -> list[Instance]:
    """Rows whose task deadline passed more than ``grace`` seconds ago."""
    cutoff = utcnow() - dt.timedelta(seconds=grace)
    with db.session() as session:
        return list(session.scalars(
            sa.select(Instance).where(Instance.task_deadline < cutoff, Instance.deleted.is_(False))
            .limit(limit)))


def resolve_timeout(db: Database, row: Instance, cell_path: str) -> dict[str, Any] | None:
    """Resolve a transitional state past its deadline to a final one with a fault."""
    event = states.TIMEOUT_EVENT.get(row.task_state, "failed")
    try:
        final = states.apply_event(states.State(row.vm_state, row.task_state), event)
    except states.InvalidState:
        final = states.State(states.ERROR, None)
    what = row.task_state or row.vm_state
    fault = instances.fault(f"Task '{what}' did not complete before its deadline.")

    def work(session: Session) -> bool:
        ok = _cas(session, row, vm_state=final.vm_state, task_state=final.task_state,
                  fault=fault, task_deadline=None)
        if ok and final.vm_state == states.ERROR and row.host and what in (
                states.SPAWNING, states.SCHEDULING):
            release_claim(session, row)
            row.host = None
            session.execute(sa.update(Instance).where(Instance.uuid == row.uuid).values(host=None))
        return ok

    return instances.from_row(row, cell_path) if db.transaction(work) else None


def sync_batch(db: Database, after: str, limit: int) -> list[Instance]:
    """The next ``limit`` rows by uuid after ``after`` (wrapping is the caller's job)."""
    with db.session() as session:
        return list(session.scalars(
            sa.select(Instance).where(Instance.uuid > after).order_by(Instance.uuid).limit(limit)))


def rows_by_uuid(db: Database, uuids: list[str]) -> dict[str, Instance]:
    with db.session() as session:
        rows = session.scalars(sa.select(Instance).where(Instance.uuid.in_(uuids)))
        return {row.uuid: row for row in rows}
