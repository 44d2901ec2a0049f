"""Usage rows and projects for the usage and accounting tests.

The tree: R > A > G (three levels) and B on its own; A and B are the projects
of the test tokens. Usage, all in 3600-second buckets:

| instance | project | cell | flavor | buckets (UTC) | per bucket |
|---|---|---|---|---|---|
| WEB ("web", indexed) | A | top!cell1 | 1 m1.small | 2026-10-31 23:00, 2026-11-01 00:00 | 1 vCPU, 3600 s |
| DB (purged from the index) | B | top!cell1 | 2 m1.large | 2026-10-31 23:00 | 4 vCPUs, 1800 s |
| GRAND | G | top!cell2 | 2 m1.large | 2026-11-01 00:00 | 4 vCPUs, 3600 s |
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from cells.db.api_models import UsageHourly
from cells.db.engine import Database
from cells.db.identity_models import Domain, Project
from tests.unit.api.conftest import PROJECT_A, PROJECT_B, add_instance

ROOT, GRAND = "pr" + "0" * 30, "pg" + "0" * 30
WEB = "00000000-0000-4000-8000-00000000000a"
DB = "00000000-0000-4000-8000-00000000000b"
GRAND_VM = "00000000-0000-4000-8000-00000000000c"
H23 = dt.datetime(2026, 10, 31, 23)
H00 = dt.datetime(2026, 11, 1, 0)


def add_projects(db: Database) -> None:
    with db.session() as session:
        if session.get(Domain, "default") is None:
            session.add(Domain(id="default", name="Default"))
            session.flush()
        session.add(Project(id=ROOT, domain_id="default", name="root"))
        session.flush()
        session.add(Project(id=PROJECT_A, domain_id="default", name="alpha", parent_id=ROOT))
        session.add(Project(id=PROJECT_B, domain_id="default", name="beta"))
        session.flush()
        session.add(Project(id=GRAND, domain_id="default", name="grand", parent_id=PROJECT_A))


def add_usage(db: Database, instance: str, project: str, hour: dt.datetime, *, cell: str = "top!cell1",
              flavor: tuple[str, str] = ("1", "m1.small"), vcpus: int = 1, ram_mb: int = 512,
              disk_gb: int = 1, seconds: float = 3600.0, hs06_per_core: float = 10.0,
              revision: int = 1, **fields: Any) -> None:
    hours = seconds / 3600
    values = {"cell_path": cell, "instance_id": instance, "hour": hour,
              "hour_epoch": hour.replace(tzinfo=dt.UTC).timestamp(), "hour_seconds": 3600.0,
              "project_id": project, "user_id": "u1", "flavor_id": flavor[0], "flavor_name": flavor[1],
              "vcpus": vcpus, "ram_mb": ram_mb, "disk_gb": disk_gb, "host": "host-001",
              "hs06_per_core": hs06_per_core, "seconds": seconds, "vcpu_hours": vcpus * hours,
              "hs06_hours": vcpus * hours * hs06_per_core, "ram_gb_hours": ram_mb / 1024 * hours,
              "disk_gb_hours": disk_gb * hours, "net_in_bytes": 1000, "net_out_bytes": 2000,
              "samples": 12, "revision": revision, **fields}
    with db.session() as session:
        session.execute(sa.insert(UsageHourly.__table__).values(**values))


def seed(db: Database, index: bool = True) -> None:
    """The projects and usage of the module docstring (WEB in the index when ``index``)."""
    add_projects(db)
    if index:
        add_instance(db, PROJECT_A, uuid=WEB, name="web", created=dt.datetime(2026, 10, 31, 22, 50),
                     launched_at=dt.datetime(2026, 10, 31, 22, 55))
    add_usage(db, WEB, PROJECT_A, H23)
    add_usage(db, WEB, PROJECT_A, H00)
    add_usage(db, DB, PROJECT_B, H23, flavor=("2", "m1.large"), vcpus=4, ram_mb=8192, disk_gb=40,
              seconds=1800.0)
    add_usage(db, GRAND_VM, GRAND, H00, cell="top!cell2", flavor=("2", "m1.large"), vcpus=4,
              ram_mb=8192, disk_gb=40)
