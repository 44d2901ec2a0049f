"""The collector as a daemon: samples over the cell's broker, the console script's choices,
and the launcher's metering options."""

from __future__ import annotations

import argparse
import time

import pytest

from cells import config as config_mod
from cells.exception import ConfigError
from cloudctl.topology import Topology
from cloudctl.up import up_parser
from metering import cmd
from metering.collector.listener import listener
from metering.pollsters.notifier import SampleNotifier
from tests.conftest import write_cell_config
from tests.unit.metering.rig import BASE, Rig, polls


def test_samples_sent_by_agents_reach_the_store_through_the_batch_listener(sqlite_db, fake_broker):
    rig = Rig(sqlite_db("compute"), now=BASE + 3 * 3600)
    server = listener(fake_broker, rig.ingestor)
    server.start()
    try:
        batch = polls(BASE + 200, 30)
        bad = [{"name": "vcpus"}, {"volume": "x"}]
        SampleNotifier(fake_broker, "cloud-compute.cell1", batch_size=7).send(bad + batch + batch)
        deadline = time.monotonic() + 20
        while rig.ingestor.counters.stored < 2 * len(batch) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.stop()
        server.wait()
    assert rig.ingestor.counters.stored == 2 * len(batch)
    assert rig.ingestor.counters.bad == 2
    rig.roll()
    assert sum(r["samples"] for r in rig.rows()) == 30


def conf_of(tmp_path, cell_type: str, **extra):
    data = {"cell": {"name": "c1", "type": cell_type},
            "database": {"url": f"sqlite:///{tmp_path}/c.db"}, "broker": {"url": "fake:///c1"},
            "state_dir": str(tmp_path), **extra}
    if cell_type != "api":
        data["cell"]["parent"] = {"path": "top", "broker_url": "fake:///top"}
    return write_cell_config(str(tmp_path / "c1.yaml"), data)


def test_cloud_metering_refuses_a_site_cell_and_a_compute_cell_without_its_service_account(tmp_path):
    with pytest.raises(ConfigError, match="API cell .* and in compute cells"):
        cmd.build(conf_of(tmp_path, "site"), argparse.Namespace())
    with pytest.raises(ConfigError, match="api.public_url"):
        cmd.build(conf_of(tmp_path, "compute"))
    api = {"listen": "127.0.0.1:18775", "public_url": "http://127.0.0.1:18775"}
    with pytest.raises(ConfigError, match="service account"):
        cmd.build(conf_of(tmp_path, "compute", api=api))


def test_the_launcher_sets_the_metering_periods_of_every_cell(tmp_path):
    plain = Topology(state_dir=str(tmp_path), site=True)
    assert all("metering" not in plain.config(c) for c in plain.cells)
    args = up_parser().parse_args(["--metering-interval", "2", "--metering-hour", "10", "--site"])
    topo = Topology(state_dir=str(tmp_path), site=True, metering_interval=args.metering_interval,
                    metering_hour=args.metering_hour)
    for cell in topo.cells:
        conf = config_mod.parse(topo.config(cell), cell.name)
        assert (conf.metering_poll_interval, conf.metering_hour_seconds) == (2.0, 10.0)
        assert conf.metering_rollup_interval == conf.metering_metadata_refresh == 5.0
        assert conf.metering_gather_interval == 5.0


@pytest.mark.parametrize("argv", [["--metering-hour", "0.5"], ["--metering-hour", "7200"],
                                  ["--metering-interval", "0"], ["--metering-interval", "soon"]])
def test_the_launcher_refuses_bad_metering_periods(argv, capsys):
    with pytest.raises(SystemExit):
        up_parser().parse_args(argv)
    assert "expected" in capsys.readouterr().err


def test_a_batch_the_database_refuses_goes_back_to_the_broker(tmp_path, monkeypatch):
    from cells import rpc
    from cells.db.engine import Database
    from metering.collector import listener as listener_mod
    from metering.collector.listener import SampleEndpoint

    monkeypatch.setattr(listener_mod, "REQUEUE_PAUSE", 0.0)
    rig = Rig(Database(f"sqlite:///{tmp_path}/no-such-dir/x.db"), now=BASE + 3 * 3600)
    message = {"event_type": "metering.samples", "payload": {"samples": polls(BASE + 200, 1)}}
    assert SampleEndpoint(rig.ingestor).info([message]) == rpc.REQUEUE
    assert len(rig.dirty) == 0  # nothing marked for samples that were not stored


def test_samples_over_rabbitmq_reach_the_store(sqlite_db, rabbit_vhost):
    broker = rabbit_vhost()
    rig = Rig(sqlite_db("compute"), now=BASE + 3 * 3600)
    server = listener(broker, rig.ingestor)
    server.start()
    try:
        batch = polls(BASE + 200, 30)
        SampleNotifier(broker, "cloud-compute.cell1", batch_size=50).send(batch + batch[:20])
        deadline = time.monotonic() + 30
        while rig.ingestor.counters.stored < len(batch) + 20 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        server.stop()
        server.wait()
    assert rig.ingestor.counters.stored == len(batch) + 20
    rig.roll()
    assert sum(r["samples"] for r in rig.rows()) == 30


def test_the_broker_hands_the_collector_two_batches_ahead_not_its_whole_backlog(sqlite_db, rabbit_vhost):
    import subprocess

    from metering.collector.listener import PREFETCH

    broker = rabbit_vhost()
    rig = Rig(sqlite_db("compute"), now=BASE + 3 * 3600)
    server = listener(broker, rig.ingestor)
    server.start()
    try:
        vhost = broker.rsplit("/", 1)[1]
        deadline = time.monotonic() + 30
        while True:
            found = subprocess.run(["rabbitmqctl", "list_consumers", "-q", "-p", vhost, "queue_name",
                                    "prefetch_count"], capture_output=True, text=True, timeout=60)
            lines = [line.split() for line in found.stdout.splitlines() if line.strip()]
            if any(q.endswith("metering.info") for q, _n in lines) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        server.stop()
        server.wait()
    assert [int(n) for q, n in lines if q.endswith("metering.info")] == [PREFETCH]
