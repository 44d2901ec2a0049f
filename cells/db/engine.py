"""Engines and transactions.

One engine per URL per process. ``transaction`` runs a function in one
transaction and retries it when the database reports a deadlock or a lock
wait timeout, which parallel deletes and claims on MariaDB do produce.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cells.exception import ConfigError

LOG = logging.getLogger(__name__)
T = TypeVar("T")

# MariaDB/MySQL error codes worth retrying: deadlock, lock wait timeout.
_RETRYABLE_MYSQL = {1213, 1205}
# Connection lost, server gone or briefly out of connections: retried too, the pool reconnects.
_RECONNECT_MYSQL = {2006, 2013, 2003, 1040}


class Database:
    """An engine and its session factory for one database URL."""

    def __init__(self, url: str, pool_size: int = 10, max_overflow: int = 20,
                 deadlock_retries: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size, max_overflow)
        self.sessions = sessionmaker(bind=self.engine, expire_on_commit=False)
        self.deadlock_retries = deadlock_retries

    @contextmanager
    def session(self) -> Iterator[Session]:
        """Yield a session in a transaction that commits on success, rolls back on error."""
        with self.sessions() as session, session.begin():
            yield session

    def transaction(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` in one transaction, retried on deadlock; returns its result."""
        attempt = 0
        while True:
            try:
                with self.session() as session:
                    return fn(session)
            except DBAPIError as exc:
                attempt += 1
                if not is_retryable(exc) or attempt > self.deadlock_retries:
                    raise
                delay = min(0.5, 0.01 * 2**attempt) * random.uniform(0.5, 1.0)
                LOG.info("retrying transaction after %s (attempt %d)", _error_code(exc), attempt)
                time.sleep(delay)

    def dispose(self) -> None:
        self.engine.dispose()


def rowcount(result: Any) -> int:
    """Rows an UPDATE or DELETE matched (Session.execute's Result is typed without it)."""
    return int(result.rowcount)


def _error_code(exc: DBAPIError) -> int | None:
    args = getattr(exc.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def is_retryable(exc: DBAPIError) -> bool:
    """True for deadlocks, lock waits and lost connections (and SQLite's 'database is locked')."""
    code = _error_code(exc)
    if code in _RETRYABLE_MYSQL or code in _RECONNECT_MYSQL:
        return True
    if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):
        return True
    return bool(exc.connection_invalidated)


def make_engine(url: str, pool_size: int = 10, max_overflow: int = 20) -> Engine:
    """Create an engine for a mysql+pymysql:// or sqlite:// URL; raises ConfigError otherwise."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=max_overflow,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("mysql+pymysql://"):
        connect_args: dict[str, Any] = {"charset": "utf8mb4",
                                        "init_command": "SET innodb_lock_wait_timeout=10"}
        host = sa.engine.make_url(url).host
        if host in (None, "", "localhost", "127.0.0.1", "::1"):
            # PyMySQL tries TLS by default and builds an SSL context per connection
            # (several ms each); on loopback or a socket it protects nothing.
            connect_args["ssl_disabled"] = True
        return sa.create_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=True,
            pool_recycle=3600,
            # A connection returned after COMMIT needs no extra ROLLBACK round trip.
            pool_reset_on_return=None,
            connect_args=connect_args,
        )
    raise ConfigError(
        f"database URL {redact(url)!r} is not supported: use mysql+pymysql:// (the C MySQL "
        "driver blocks every thread of a daemon during each query) or sqlite://"
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def redact(url: str) -> str:
    """Return the URL with its password replaced, fit for logs."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is still logged, without secrets
        return "<unparsable url>"


class DatabaseRegistry:
    """Shares one Database per URL among the services of one process (the embedded cloud)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_url: dict[str, Database] = {}

    def get(self, url: str, **kwargs: Any) -> Database:
        with self._lock:
            if url not in self._by_url:
                self._by_url[url] = Database(url, **kwargs)
            return self._by_url[url]


# One process-wide registry: SQLite files and pools must be shared by the
# daemons an embedded cloud runs side by side in one process.
DATABASES = DatabaseRegistry()
