"""Transactions retried on deadlock, on a real MariaDB; URL checks."""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy as sa

from cells.db.cell_models import Instance
from cells.db.engine import Database, make_engine, redact
from cells.exception import ConfigError


def _instance(uid: str) -> Instance:
    return Instance(uuid=uid, project_id="p", user_id="u", name=uid[:8], vm_state="active",
                    flavor={}, vcpus=1, memory_mb=1, root_gb=1, image_ref="i")


def test_opposite_lock_orders_deadlock_and_both_transactions_succeed(mariadb_db):
    db = mariadb_db("compute")
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    with db.session() as s:
        s.add_all([_instance(a), _instance(b)])
    barrier = threading.Barrier(2)
    attempts = {"first": 0, "second": 0}
    errors: list[BaseException] = []

    def worker(name: str, first: str, second: str) -> None:
        def work(session):
            attempts[name] += 1
            session.execute(sa.update(Instance).where(Instance.uuid == first)
                            .values(version=Instance.version + 1))
            if attempts[name] == 1:
                barrier.wait(timeout=10)  # both hold one row: each now wants the other's
            session.execute(sa.update(Instance).where(Instance.uuid == second)
                            .values(version=Instance.version + 1))

        try:
            db.transaction(work)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=("first", a, b)),
               threading.Thread(target=worker, args=("second", b, a))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert attempts["first"] + attempts["second"] >= 3  # one of them was a deadlock victim
    with db.session() as s:
        versions = s.execute(sa.select(Instance.version).where(Instance.uuid.in_([a, b]))).all()
    assert sorted(v for (v,) in versions) == [3, 3]


def test_plain_mysql_url_is_refused_and_urls_are_redacted():
    with pytest.raises(ConfigError, match="mysql\\+pymysql"):
        make_engine("mysql://root:secret@localhost/x")
    assert "secret" not in redact("mysql+pymysql://root:secret@localhost/x")


def test_non_retryable_errors_are_raised_at_once(sqlite_db):
    db: Database = sqlite_db("compute")
    calls = []

    def work(session):
        calls.append(1)
        session.execute(sa.text("SELECT * FROM no_such_table"))

    with pytest.raises(sa.exc.OperationalError):
        db.transaction(work)
    assert calls == [1]
