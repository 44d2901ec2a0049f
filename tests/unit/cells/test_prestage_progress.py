"""Pre-staging progress travels from a compute cell up to the API cell (applied there by version)."""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest

from cells import cmd, config, prestages, service
from cells.context import RequestContext
from cells.db import migrate
from cells.db.api_models import ImagePrestage
from cells.db.engine import DATABASES
from cells.db.types import utcnow
from cells.rpcapi import CellsAPI


@pytest.fixture
def tree(tmp_path):
    tag = uuid.uuid4().hex[:8]
    urls = {n: f"fake:///{n}-{tag}" for n in ("top", "site", "leaf")}
    confs = {
        "top": config.parse({
            "cell": {"name": "top", "type": "api",
                     "children": [{"name": "site", "broker_url": urls["site"]}]},
            "database": {"url": f"sqlite:///{tmp_path}/top.db"}, "broker": {"url": urls["top"]}}),
        "site": config.parse({
            "cell": {"name": "site", "type": "site", "parent": {"path": "top", "broker_url": urls["top"]},
                     "children": [{"name": "leaf", "broker_url": urls["leaf"]}]},
            "database": {"url": f"sqlite:///{tmp_path}/site.db"}, "broker": {"url": urls["site"]}}),
        "leaf": config.parse({
            "cell": {"name": "leaf", "type": "compute",
                     "parent": {"path": "top!site", "broker_url": urls["site"]}},
            "database": {"url": f"sqlite:///{tmp_path}/leaf.db"}, "broker": {"url": urls["leaf"]},
            "cells": {"capacity_interval": 60}}),
    }
    for conf in confs.values():
        migrate.upgrade(conf.database_url, conf.type)
    components = []
    for conf in confs.values():
        components += service.start_all(cmd.build(conf))
    yield confs
    service.stop_all(components)


def _row(top_db, prestage_id):
    with top_db.session() as session:
        return session.get(ImagePrestage, prestage_id)


def test_reports_reach_the_api_cell_through_a_site(tree):
    top_db = DATABASES.get(tree["top"].database_url)
    prestage_id = str(uuid.uuid4())
    now = utcnow().replace(microsecond=0)
    with top_db.session() as session:
        session.add(ImagePrestage(id=prestage_id, image_id="img", cell_path="top!site!leaf",
                                  status="queued", failures={}, created_at=now, updated_at=now))
    leaf = CellsAPI(tree["leaf"].broker_url)
    report = {"id": prestage_id, "cell_path": "top!site!leaf", "status": "running", "hosts_total": 3,
              "hosts_done": 2, "hosts_failed": 0, "failures": {}, "started_at": now.isoformat()}
    ctxt = RequestContext.admin("top!site!leaf")
    leaf.prestage_progress(ctxt, "top", report | {"version": 20})
    deadline = time.monotonic() + 10
    while _row(top_db, prestage_id).version != 20:
        assert time.monotonic() < deadline, "the report did not arrive"
        time.sleep(0.02)
    leaf.prestage_progress(ctxt, "top", report | {"version": 30, "status": "done", "hosts_done": 3})
    while _row(top_db, prestage_id).version != 30:
        assert time.monotonic() < deadline, "the last report did not arrive"
        time.sleep(0.02)
    row = _row(top_db, prestage_id)
    assert (row.status, row.hosts_done, row.hosts_total, row.started_at) == ("done", 3, 3, now)


@pytest.mark.parametrize("backend", ["sqlite", "mariadb"])
def test_reports_apply_by_version_and_silent_runs_expire(backend, request):
    db = request.getfixturevalue(f"{backend}_db")("api")
    now = utcnow().replace(microsecond=0)
    with db.session() as session:
        for prestage_id in ("run-1", "run-2"):
            session.add(ImagePrestage(id=prestage_id, image_id="img", cell_path="top!cell1", status="queued",
                                      failures={}, created_at=now, updated_at=now))
    started = dt.datetime(2030, 1, 1, 12, 0, 0, 250000)
    report = {"id": "run-1", "cell_path": "top!cell1", "version": 7, "status": "done", "hosts_total": 2,
              "hosts_done": 1, "hosts_failed": 1, "failures": {"h2": "host is down"},
              "started_at": started.isoformat(),
              "finished_at": (started + dt.timedelta(seconds=1.5)).isoformat()}
    assert prestages.apply_progress(db, report)
    assert not prestages.apply_progress(db, report | {"status": "running"})  # the same version again
    with db.session() as session:
        row = session.get(ImagePrestage, "run-1")
        assert (row.status, row.failures, row.started_at) == ("done", {"h2": "host is down"}, started)
        assert (row.finished_at - row.started_at).total_seconds() == 1.5
        session.get(ImagePrestage, "run-2").updated_at = now - dt.timedelta(seconds=601)
    assert prestages.expire_stale(db, 600) == 1
    with db.session() as session:
        assert session.get(ImagePrestage, "run-2").status == "error"
        assert session.get(ImagePrestage, "run-1").status == "done"
