"""The daemon wired up: RPC server on topic ``scheduler``, refresh, dispatch by cell type."""

from __future__ import annotations

import argparse
import threading

import pytest

from cells import rpc
from cells.context import RequestContext
from cells.exception import ConfigError
from cells.service import start_all, stop_all
from scheduler import cmd
from scheduler.cell_scheduler import CellScheduler
from scheduler.host_scheduler import HostScheduler
from scheduler.manager import SchedulerManager
from scheduler.rpcapi import SchedulerAPI
from tests.unit.scheduler.helpers import (
    add_capacity,
    add_host,
    add_index_row,
    build_request,
    cell_conf,
    instances,
)


class Endpoint:
    """Records every call of one method."""

    target = rpc.target("1.0")

    def __init__(self, expected: int = 1) -> None:
        self.calls: list[dict] = []
        self.expected = expected
        self.done = threading.Event()

    def _record(self, **kwargs):
        self.calls.append(kwargs)
        if len(self.calls) >= self.expected:
            self.done.set()


class ComputeEndpoint(Endpoint):
    def build_and_run_instance(self, ctxt, instance, image):
        self._record(instance=instance, image=image)


class CellsEndpoint(Endpoint):
    def route(self, ctxt, envelopes):
        self._record(envelopes=envelopes)


def serve(broker, topic, server, endpoint):
    s = rpc.get_server(broker, topic, server, [endpoint])
    s.start()
    return s


def test_compute_cell_daemon_claims_and_casts_to_the_host(sqlite_db, fake_broker):
    db = sqlite_db("compute")
    add_host(db, "hv1")
    conf = cell_conf(db.url, fake_broker, refresh_interval=0.2)
    agent = ComputeEndpoint()
    agent_server = serve(fake_broker, "compute", "hv1", agent)
    components = start_all(cmd.build(conf, argparse.Namespace()))
    try:
        req = build_request()
        SchedulerAPI(fake_broker).build_instances(RequestContext.admin(conf.path), [req])
        assert agent.done.wait(10)
    finally:
        stop_all(components)
        agent_server.stop()
        agent_server.wait()
    [call] = agent.calls
    assert call["instance"]["uuid"] == req["instance"]["uuid"] and call["instance"]["host"] == "hv1"
    assert call["image"]["id"] == "img-1"
    assert instances(db)[req["instance"]["uuid"]].host == "hv1"


def test_api_cell_daemon_routes_to_a_cell(sqlite_db, fake_broker):
    db = sqlite_db("api")
    add_capacity(db, "top!cell1")
    conf = cell_conf(db.url, fake_broker, cell_type="api")
    cells = CellsEndpoint()
    cells_server = serve(fake_broker, "cells", "cells-top", cells)
    components = start_all(cmd.build(conf, argparse.Namespace()))
    try:
        req = build_request()
        add_index_row(db, req)
        SchedulerAPI(fake_broker).schedule_instances(RequestContext.admin("top"), [req])
        assert cells.done.wait(10)
    finally:
        stop_all(components)
        cells_server.stop()
        cells_server.wait()
    [env] = cells.calls[0]["envelopes"]
    assert env["target_path"] == "top!cell1" and env["method"] == "build_instances"


def test_components_are_a_refresh_and_an_rpc_server(sqlite_db, fake_broker):
    db = sqlite_db("compute")
    components = cmd.build(cell_conf(db.url, fake_broker), argparse.Namespace())
    assert [c.name for c in components] == ["cloud-scheduler-refresh", "cloud-scheduler-rpc"]
    assert cmd.server_name(cell_conf()).startswith(tuple("abcdefghijklmnopqrstuvwxyz0123456789"))


def test_no_scheduler_in_a_site_cell(sqlite_db, fake_broker):
    db = sqlite_db("site")
    with pytest.raises(ConfigError):
        cmd.build(cell_conf(db.url, fake_broker, cell_type="site"), argparse.Namespace())


def test_methods_reaching_the_wrong_kind_of_cell_are_dropped(caplog):
    # Uninitialised schedulers: any dispatch to them would raise AttributeError.
    compute = SchedulerManager(cell_conf(), HostScheduler.__new__(HostScheduler))
    top = SchedulerManager(cell_conf(cell_type="api"), CellScheduler.__new__(CellScheduler))
    compute.schedule_instances(RequestContext(), [build_request()])
    top.build_instances(RequestContext(), [build_request()])
    assert "schedule_instances reached compute cell" in caplog.text
    assert "build_instances reached api cell" in caplog.text
    with pytest.raises(AttributeError):
        compute.build_instances(RequestContext(), [build_request()])


def test_main_without_config_exits_2(monkeypatch, capsys):
    monkeypatch.delenv("CLOUD_CONFIG", raising=False)
    with pytest.raises(SystemExit) as exc:
        cmd.main([])
    assert exc.value.code == 2
    assert "no configuration" in capsys.readouterr().err
