"""Fixtures of the scheduler tests: a compute cell's scheduler on a migrated database."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cells.db.engine import Database
from scheduler import weighers
from scheduler.host_scheduler import HostScheduler
from tests.unit.scheduler.helpers import Recorder, cell_conf


@pytest.fixture
def make_host_scheduler() -> Callable[..., tuple[HostScheduler, Recorder, Recorder]]:
    """Factory: (scheduler, compute recorder, cells recorder) for a compute cell on ``db``."""

    def make(db: Database, seed: int = 1, **scheduler_conf: object) -> tuple[HostScheduler, Recorder,
                                                                             Recorder]:
        compute, cells = Recorder(), Recorder()
        conf = cell_conf(db.url, **scheduler_conf)
        return HostScheduler(conf, db, compute, cells, tiebreak=weighers.TieBreaker(seed)), compute, cells

    return make
