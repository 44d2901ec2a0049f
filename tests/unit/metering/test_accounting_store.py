"""The API cell's store of gathered rollups: upsert by revision, cursors, idempotent replays
(SQLite and MariaDB)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from cells.db.api_models import UsageCursor, UsageHourly
from metering.accounting import store

CELL = "top!site!c1"
INSTANCE = "4b7f0c2e-1111-4222-8333-944444444444"


def rollup(revision: int, hour: str = "2026-11-21T10:00:00Z", instance: str = INSTANCE,
           **fields: Any) -> dict[str, Any]:
    return {"instance_id": instance, "hour": hour, "hour_seconds": 3600.0, "project_id": "p1",
            "user_id": "u1", "flavor_id": "2", "flavor_name": "m1.large", "vcpus": 4, "ram_mb": 8192,
            "disk_gb": 40, "host": "h1", "hs06_per_core": 10.0, "seconds": 1800.0, "vcpu_hours": 1.5,
            "hs06_hours": 15.0, "ram_gb_hours": 4.0, "disk_gb_hours": 20.0, "net_in_bytes": 1000,
            "net_out_bytes": 2000, "samples": 6, "revision": revision, **fields}


@pytest.fixture(params=["sqlite", "mariadb"])
def db(request):
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_db")("api")
    return request.getfixturevalue("mariadb_db")("api")


def rows(db) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            sa.select(UsageHourly.__table__).order_by("instance_id", "hour"))]


def cursors(db) -> dict[str, int]:
    with db.engine.connect() as conn:
        return {r.cell_path: r.revision for r in conn.execute(sa.select(UsageCursor.__table__))}


def test_first_answer_inserts_and_sets_the_cursor(db):
    stored = store.store_rollups(db, CELL, [rollup(3), rollup(5, hour="2026-11-21T11:00:00Z")])
    assert (stored.written, stored.ignored, stored.cursor) == (2, 0, 5)
    found = rows(db)
    assert [r["hour"] for r in found] == [dt.datetime(2026, 11, 21, 10), dt.datetime(2026, 11, 21, 11)]
    first = found[0]
    assert first["cell_path"] == CELL and first["project_id"] == "p1" and first["flavor_name"] == "m1.large"
    assert first["hour_epoch"] == dt.datetime(2026, 11, 21, 10, tzinfo=dt.UTC).timestamp()
    assert (first["vcpu_hours"], first["net_out_bytes"], first["revision"]) == (1.5, 2000, 3)
    assert cursors(db) == {CELL: 5}


def test_replay_changes_nothing(db):
    answer = [rollup(3), rollup(4, hour="2026-11-21T11:00:00Z")]
    store.store_rollups(db, CELL, answer)
    before = rows(db)
    again = store.store_rollups(db, CELL, answer)
    assert (again.written, again.ignored, again.cursor) == (0, 2, 4)
    assert rows(db) == before
    assert cursors(db) == {CELL: 4}


def test_newer_revision_replaces_older_is_ignored(db):
    store.store_rollups(db, CELL, [rollup(3, seconds=600.0, vcpu_hours=0.5)])
    newer = store.store_rollups(db, CELL, [rollup(7, seconds=3600.0, vcpu_hours=4.0)])
    assert newer.written == 1
    late = store.store_rollups(db, CELL, [rollup(5, seconds=1200.0, vcpu_hours=1.0)])
    assert (late.written, late.ignored) == (0, 1)
    (row,) = rows(db)
    assert (row["revision"], row["seconds"], row["vcpu_hours"]) == (7, 3600.0, 4.0)
    # The cursor never goes back, whatever order the answers came in.
    assert cursors(db) == {CELL: 7}


def test_highest_revision_within_one_answer_wins(db):
    stored = store.store_rollups(db, CELL, [rollup(9, vcpu_hours=3.0), rollup(8, vcpu_hours=2.0)])
    assert stored.written == 1
    assert rows(db)[0]["vcpu_hours"] == 3.0


def test_cells_have_their_own_rows_and_cursors(db):
    store.store_rollups(db, CELL, [rollup(4)])
    store.store_rollups(db, "top!c2", [rollup(2)])
    assert len(rows(db)) == 2
    assert cursors(db) == {CELL: 4, "top!c2": 2}
    assert store.cursor(db, "top!c3") == 0


def test_malformed_rollups_are_skipped_and_still_move_the_cursor(db):
    bad = rollup(6)
    del bad["instance_id"]
    stored = store.store_rollups(db, CELL, [rollup(2), bad, rollup(3, hour="not a time"), "junk",
                                            rollup(5, instance=str(uuid.uuid4()), hour_seconds=0)])
    assert (stored.written, stored.ignored, stored.cursor) == (1, 4, 6)
    assert len(rows(db)) == 1


def test_an_owner_not_yet_known_is_kept_and_filled_in_later(db):
    store.store_rollups(db, CELL, [rollup(2, project_id=None, flavor_name=None)])
    assert rows(db)[0]["project_id"] is None
    store.store_rollups(db, CELL, [rollup(3)])
    assert rows(db)[0]["project_id"] == "p1"


def test_empty_answer_keeps_the_cursor(db):
    store.store_rollups(db, CELL, [rollup(4)])
    assert store.store_rollups(db, CELL, []).cursor == 4
    assert cursors(db) == {CELL: 4}


def test_a_large_answer_in_one_transaction(db):
    answer = [rollup(n + 1, instance=str(uuid.uuid4())) for n in range(300)]
    stored = store.store_rollups(db, CELL, answer)
    assert (stored.written, stored.cursor) == (300, 300)
    assert store.store_rollups(db, CELL, answer).written == 0


def test_the_same_answer_stored_twice_at_once(db):
    """Two processes handling a duplicated answer: one writes, the other finds the rows there."""
    import threading

    answer = [rollup(n + 1, instance=str(uuid.uuid4())) for n in range(50)]
    results, errors = [], []

    def run() -> None:
        try:
            results.append(store.store_rollups(db, CELL, answer))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(r.written for r in results) == 50
    assert len(rows(db)) == 50 and cursors(db) == {CELL: 50}
