"""The collector's tables in the cell database: raw samples, rollups, enrichment, revisions.

Raw samples go in by bulk ``INSERT IGNORE`` on their natural key, so a
replayed or duplicated sample changes nothing. Rollups are written whole:
each write of a changed row takes the next value of the one-row revision
counter, updated first in the same transaction so its row lock orders the
writers and a reader paging by revision never skips a row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import sqlalchemy as sa
from pymysql.converters import escape_string
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.orm import Session

from cells.db.cell_models import (
    MeteringHost,
    MeteringInstance,
    MeteringRevision,
    MeteringRollup,
    MeteringSample,
)
from cells.db.engine import Database, rowcount
from cells.db.types import utcnow
from metering.collector import rollup
from metering.collector.parse import SampleRow, interval_us
from metering.collector.rollup import InstanceInfo, Point

SAMPLES = cast(sa.Table, MeteringSample.__table__)
ROLLUPS = cast(sa.Table, MeteringRollup.__table__)
INSTANCES = cast(sa.Table, MeteringInstance.__table__)
HOSTS = cast(sa.Table, MeteringHost.__table__)
REVISION = cast(sa.Table, MeteringRevision.__table__)

SAMPLE_COLUMNS = ("resource_id", "name", "timestamp_us", "instance_id", "volume", "unit", "type",
                  "host", "project_id", "user_id", "metadata")
# Rollup columns compared to decide whether a recomputed row changed (and so needs a revision).
VALUE_COLUMNS = ("hour_seconds", "project_id", "user_id", "flavor_id", "flavor_name", "vcpus",
                 "ram_mb", "disk_gb", "host", "hs06_per_core", "seconds", "vcpu_hours", "hs06_hours",
                 "ram_gb_hours", "disk_gb_hours", "net_in_bytes", "net_out_bytes", "samples")
_CHUNK = 500  # ids per IN (...) list


def _insert_ignore_sql(db: Database) -> str:
    dialect = db.engine.dialect
    marks = ", ".join(["?" if dialect.paramstyle == "qmark" else "%s"] * len(SAMPLE_COLUMNS))
    verb = "INSERT OR IGNORE" if dialect.name == "sqlite" else "INSERT IGNORE"
    columns = ", ".join(f"`{c}`" if dialect.name != "sqlite" else f'"{c}"' for c in SAMPLE_COLUMNS)
    return f"{verb} INTO metering_samples ({columns}) VALUES ({marks})"


def _values_sql(rows: Sequence[SampleRow]) -> str:
    """``rows`` as the VALUES list of a MariaDB INSERT, in SAMPLE_COLUMNS order.

    PyMySQL's executemany formats every value through its generic escaping, the
    larger part of ingest's time; here each column's type is known, and the
    strings of a batch repeat (meter names, units, hosts, owners, instances), so
    each distinct string is escaped once.
    """
    quoted: dict[str, str] = {}

    def q(value: str | None) -> str:
        if value is None:
            return "NULL"
        found = quoted.get(value)
        if found is None:
            found = quoted[value] = "'" + escape_string(value) + "'"
        return found

    # volume is a finite float (parse.row refuses the others), timestamp_us an int.
    return ",".join(f"({q(r[0])},{q(r[1])},{int(r[2])},{q(r[3])},{float(r[4])!r},{q(r[5])},{q(r[6])},"
                    f"{q(r[7])},{q(r[8])},{q(r[9])},{q(r[10])})" for r in rows)


class SampleStore:
    """Bulk reads and writes of the collector's tables on one cell database."""

    # Rows per multi-row INSERT on MariaDB: well under the server's max_allowed_packet.
    MYSQL_ROWS = 5000

    def __init__(self, db: Database) -> None:
        self.db = db
        self._insert_sql = _insert_ignore_sql(db)
        self._mysql = db.engine.dialect.name != "sqlite"

    # --- raw samples ---------------------------------------------------------------

    def insert(self, rows: Sequence[SampleRow]) -> None:
        """Store ``rows``; those already stored (same resource, meter and time) are ignored."""
        if not rows:
            return

        def run(session: Session) -> None:
            if not self._mysql:
                session.connection().exec_driver_sql(self._insert_sql, list(rows))
                return
            cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                head = self._insert_sql.split(" VALUES ")[0] + " VALUES "
                for start in range(0, len(rows), self.MYSQL_ROWS):
                    cursor.execute(head + _values_sql(rows[start:start + self.MYSQL_ROWS]))
            finally:
                cursor.close()

        self.db.transaction(run)

    def window(self, instance_ids: Sequence[str], lo_us: int, hi_us: int) -> dict[str, list[Point]]:
        """The rolled meters' samples of ``instance_ids`` in ``(lo_us, hi_us]``, by instance."""
        c = SAMPLES.c
        found: dict[str, list[Point]] = {i: [] for i in instance_ids}
        with self.db.engine.connect() as conn:
            for start in range(0, len(instance_ids), _CHUNK):
                query = sa.select(c.instance_id, c.resource_id, c.name, c.timestamp_us, c.volume,
                                  c.host, c.metadata, c.project_id, c.user_id).where(
                    c.instance_id.in_(instance_ids[start:start + _CHUNK]),
                    c.name.in_(rollup.ROLLED), c.timestamp_us > lo_us, c.timestamp_us <= hi_us)
                for r in conn.execute(query):
                    found[r.instance_id].append(Point(
                        r.timestamp_us, r.name, r.resource_id, r.volume, r.host,
                        interval_us(r.metadata) if r.name == rollup.VCPUS else None,
                        r.project_id, r.user_id))
        return found

    def recent_instances(self, since_us: int) -> list[str]:
        """Instances with a sample after ``since_us``."""
        c = SAMPLES.c
        with self.db.engine.connect() as conn:
            return list(conn.execute(sa.select(c.instance_id).where(c.timestamp_us > since_us)
                                     .distinct()).scalars())

    def purge(self, before_us: int, slice_us: int = 3600 * 1_000_000) -> int:
        """Delete raw samples older than ``before_us``, an hour of samples per transaction."""
        c = SAMPLES.c
        with self.db.engine.connect() as conn:
            oldest = conn.execute(sa.select(sa.func.min(c.timestamp_us))).scalar()
        deleted = 0
        while oldest is not None and oldest < before_us:
            upto = min(before_us, oldest + slice_us)

            def run(session: Session, upto: int = upto) -> int:
                return rowcount(session.execute(sa.delete(SAMPLES).where(c.timestamp_us < upto)))

            deleted += self.db.transaction(run)
            oldest = upto
        return deleted

    # --- enrichment ----------------------------------------------------------------

    def instances(self, ids: Iterable[str] | None = None) -> dict[str, InstanceInfo]:
        """Stored metadata of ``ids`` (all when None)."""
        query = sa.select(INSTANCES)
        wanted = None if ids is None else list(ids)
        found: dict[str, InstanceInfo] = {}
        with self.db.engine.connect() as conn:
            chunks = [None] if wanted is None else [wanted[i:i + _CHUNK]
                                                     for i in range(0, len(wanted), _CHUNK)]
            for chunk in chunks:
                q = query if chunk is None else query.where(INSTANCES.c.instance_id.in_(chunk))
                for r in conn.execute(q):
                    found[r.instance_id] = InstanceInfo(
                        r.project_id, r.user_id, r.flavor_id, r.flavor_name, r.vcpus, r.ram_mb,
                        r.disk_gb, _to_us(r.launched_at), r.host)
        return found

    def save_instances(self, infos: Mapping[str, InstanceInfo]) -> None:
        """Insert or replace the stored metadata of these instances."""
        if not infos:
            return
        now = utcnow()
        rows = [{"instance_id": i, "project_id": v.project_id, "user_id": v.user_id,
                 "flavor_id": v.flavor_id, "flavor_name": v.flavor_name, "vcpus": v.vcpus,
                 "ram_mb": v.ram_mb, "disk_gb": v.disk_gb, "launched_at": _from_us(v.launched_us),
                 "host": v.host, "updated_at": now} for i, v in infos.items()]
        self.db.transaction(lambda s: _upsert(s, INSTANCES, rows, ("instance_id",)))

    def hosts(self) -> dict[str, float]:
        """Stored HS06 per core of every host seen."""
        with self.db.engine.connect() as conn:
            return {r.host: r.hs06_per_core for r in conn.execute(sa.select(HOSTS))}

    def save_hosts(self, hs06: Mapping[str, float]) -> None:
        if not hs06:
            return
        now = utcnow()
        rows = [{"host": h, "hs06_per_core": v, "updated_at": now} for h, v in hs06.items()]
        self.db.transaction(lambda s: _upsert(s, HOSTS, rows, ("host",)))

    # --- rollups -------------------------------------------------------------------

    def write_rollups(self, rows: Mapping[tuple[str, dt.datetime], dict[str, Any]],
                      emptied: Mapping[tuple[str, dt.datetime], dict[str, Any]] | None = None) -> int:
        """Store recomputed rollups keyed by (instance, bucket start); returns how many changed.

        Unchanged rows keep their revision; changed and new ones take the next revisions.
        ``emptied`` rows (no usage left) replace stored rows only; none is created for them.
        """
        emptied = emptied or {}
        if not rows and not emptied:
            return 0

        def run(session: Session) -> int:
            # Lock the counter first: concurrent writers commit in revision order.
            session.execute(sa.update(REVISION).where(REVISION.c.id == 1)
                            .values(value=REVISION.c.value))
            existing = _existing(session, [*rows, *emptied])
            wanted = {**{k: v for k, v in emptied.items() if k in existing}, **rows}
            changed = [(key, values) for key, values in sorted(wanted.items())
                       if existing.get(key) != tuple(values[c] for c in VALUE_COLUMNS)]
            if not changed:
                return 0
            session.execute(sa.update(REVISION).where(REVISION.c.id == 1)
                            .values(value=REVISION.c.value + len(changed)))
            last = int(session.execute(sa.select(REVISION.c.value).where(REVISION.c.id == 1))
                       .scalar_one())
            now = utcnow()
            first = last - len(changed) + 1
            records = [{"instance_id": iid, "hour": hour, **values, "revision": first + n,
                        "updated_at": now} for n, ((iid, hour), values) in enumerate(changed)]
            _upsert(session, ROLLUPS, records, ("instance_id", "hour"))
            return len(changed)

        return self.db.transaction(run)

    def rollups_since(self, since: int, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` rollups with a revision above ``since``, by revision, as plain values."""
        query = sa.select(ROLLUPS).where(ROLLUPS.c.revision > since).order_by(
            ROLLUPS.c.revision).limit(limit)
        with self.db.engine.connect() as conn:
            return [_plain(r._mapping) for r in conn.execute(query)]

    def rollups_of(self, instance_id: str) -> list[dict[str, Any]]:
        """Every rollup of one instance, oldest bucket first, as plain values."""
        query = sa.select(ROLLUPS).where(ROLLUPS.c.instance_id == instance_id).order_by(ROLLUPS.c.hour)
        with self.db.engine.connect() as conn:
            return [_plain(r._mapping) for r in conn.execute(query)]


def _existing(session: Session, keys: list[tuple[str, dt.datetime]]) -> dict[tuple[str, dt.datetime],
                                                                           tuple[Any, ...]]:
    found: dict[tuple[str, dt.datetime], tuple[Any, ...]] = {}
    ids = sorted({k[0] for k in keys})
    lo, hi = min(k[1] for k in keys), max(k[1] for k in keys)
    columns = [ROLLUPS.c[c] for c in VALUE_COLUMNS]
    for start in range(0, len(ids), _CHUNK):
        query = sa.select(ROLLUPS.c.instance_id, ROLLUPS.c.hour, *columns).where(
            ROLLUPS.c.instance_id.in_(ids[start:start + _CHUNK]), ROLLUPS.c.hour >= lo,
            ROLLUPS.c.hour <= hi)
        for r in session.execute(query):
            found[(r[0], r[1])] = tuple(r[2:])
    return found


def _upsert(session: Session, table: sa.Table, rows: list[dict[str, Any]], key: tuple[str, ...]) -> None:
    """Insert ``rows``, replacing the other columns of rows whose ``key`` exists."""
    dialect = session.get_bind().dialect.name
    others = [c.name for c in table.columns if c.name not in key]
    if dialect == "sqlite":
        lite = sqlite.insert(table)
        session.execute(lite.on_conflict_do_update(
            index_elements=list(key), set_={c: lite.excluded[c] for c in others}), rows)
        return
    my = mysql.insert(table)
    session.execute(my.on_duplicate_key_update({c: my.inserted[c] for c in others}), rows)


def _plain(row: Mapping[Any, Any]) -> dict[str, Any]:
    """A rollup row as the wire carries it: ISO bucket start, numbers, strings."""
    out = {k: row[k] for k in ("instance_id", *VALUE_COLUMNS, "revision")}
    out["hour"] = rollup.iso_hour(row["hour"])
    for k in ("hour_seconds", "hs06_per_core", "seconds", "vcpu_hours", "hs06_hours", "ram_gb_hours",
              "disk_gb_hours"):
        out[k] = float(out[k])
    for k in ("vcpus", "ram_mb", "disk_gb", "net_in_bytes", "net_out_bytes", "samples", "revision"):
        out[k] = int(out[k])
    return out


def _to_us(value: dt.datetime | None) -> int | None:
    if value is None:
        return None
    delta = value - dt.datetime(1970, 1, 1)
    return delta.days * 86400 * 1_000_000 + delta.seconds * 1_000_000 + delta.microseconds


def _from_us(value: int | None) -> dt.datetime | None:
    return None if value is None else dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=value)
