"""Counters into samples (pure), and samples onto the broker in batches."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from metering.pollsters.notifier import EVENT_TYPE, SampleNotifier
from metering.pollsters.samples import CUMULATIVE, GAUGE, Owner, Pollster, cpu_util
from tests.unit.metering.notifications import Sink

GUEST = "0b5e7d4c-6a55-4d2f-9a43-8f2f3c1d9e01"
OWNER = Owner("proj", "user")


def counters(read_at: float, cpu_s: float, rd: int = 0, rx: int = 0, vcpus: int = 2) -> dict[str, Any]:
    return {"uuid": GUEST, "read_at": read_at, "vcpus": vcpus, "cpu_time_ns": int(cpu_s * 1e9),
            "memory_used_kib": 512 * 1024, "memory_available_kib": 2048 * 1024,
            "disks": [{"device": "vda", "read_bytes": rd, "read_requests": rd // 4096,
                       "write_bytes": 0, "write_requests": 0}],
            "nics": [{"device": "tap0b5e7d4c6a", "rx_bytes": rx, "rx_packets": rx // 1000,
                      "tx_bytes": 0, "tx_packets": 0}]}


def by_name(samples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in samples}


def test_first_reading_gives_counters_and_gauges_but_no_rates():
    samples = Pollster().samples("hv1", counters(1000.0, 10.0, rd=8192), OWNER)
    found = by_name(samples)
    assert "cpu_util" not in found and not any(n.endswith(".rate") for n in found)
    assert found["cpu"]["volume"] == 10 * 10**9 and found["cpu"]["type"] == CUMULATIVE
    assert found["memory.usage"]["volume"] == 512 and found["memory"]["volume"] == 2048
    assert found["vcpus"]["volume"] == 2 and found["vcpus"]["type"] == GAUGE
    disk = found["disk.device.read.bytes"]
    assert disk["volume"] == 8192 and disk["resource_id"] == f"{GUEST}-vda"
    assert disk["metadata"] == {"device": "vda"}
    assert found["disk.device.read.requests"]["volume"] == 2
    assert found["network.incoming.bytes"]["resource_id"] == f"{GUEST}-tap0b5e7d4c6a"
    for sample in samples:
        assert (sample["instance_id"], sample["project_id"], sample["user_id"], sample["host"]) == (
            GUEST, "proj", "user", "hv1")
        assert sample["timestamp"] == "1970-01-01T00:16:40+00:00"
    assert len({s["id"] for s in samples}) == len(samples)


def test_cpu_util_and_rates_come_from_the_previous_reading():
    pollster = Pollster()
    pollster.samples("hv1", counters(1000.0, 10.0, rd=0, rx=1000), OWNER)
    # 60 s later, 2 vCPUs, 30 s of CPU time: a quarter of the guest's capacity.
    found = by_name(pollster.samples("hv1", counters(1060.0, 40.0, rd=600_000, rx=61_000), OWNER))
    assert found["cpu_util"]["volume"] == pytest.approx(25.0)
    assert found["cpu_util"]["unit"] == "%" and found["cpu_util"]["type"] == GAUGE
    assert found["disk.device.read.bytes.rate"]["volume"] == pytest.approx(10_000.0)
    assert found["disk.device.read.bytes.rate"]["unit"] == "B/s"
    assert found["network.incoming.bytes.rate"]["volume"] == pytest.approx(1000.0)
    assert found["network.incoming.packets.rate"]["volume"] == pytest.approx(1.0)


def test_a_counter_that_went_backwards_gives_no_rate():
    pollster = Pollster()
    pollster.samples("hv1", counters(1000.0, 100.0, rd=10**6), OWNER)
    found = by_name(pollster.samples("hv1", counters(1060.0, 5.0, rd=10**3), OWNER))
    assert "cpu_util" not in found and "disk.device.read.bytes.rate" not in found
    assert found["cpu"]["volume"] == 5 * 10**9  # the counter itself still goes out
    # The restarted counter is the base of the next rate.
    found = by_name(pollster.samples("hv1", counters(1120.0, 35.0, rd=10**3), OWNER))
    assert found["cpu_util"]["volume"] == pytest.approx(25.0)


def test_forgotten_guests_start_over():
    pollster = Pollster()
    pollster.samples("hv1", counters(1000.0, 10.0), OWNER)
    pollster.forget([])
    assert "cpu_util" not in by_name(pollster.samples("hv1", counters(1060.0, 40.0), OWNER))


def test_cpu_util_formula():
    assert cpu_util(3 * 10**9, 10.0, 3) == pytest.approx(10.0)
    assert cpu_util(10**9, 1.0, 0) == pytest.approx(100.0)  # a guest reporting no vCPU counts as one


def test_sample_ids_come_from_the_factory():
    ids = (f"id-{n}" for n in itertools.count())
    samples = Pollster(new_id=lambda: next(ids)).samples("hv1", counters(1.0, 1.0), OWNER)
    assert [s["id"] for s in samples] == [f"id-{n}" for n in range(len(samples))]


@pytest.fixture
def sink(fake_broker):
    with Sink.listening(fake_broker) as found:
        yield found


def test_samples_go_out_in_batches(fake_broker, sink):
    notifier = SampleNotifier(fake_broker, "cloud-compute.cell1", batch_size=4)
    samples = [{"id": str(n)} for n in range(10)]
    assert notifier.send(samples) == 3
    received = sink.wait_for(3)
    assert [len(p["samples"]) for _pub, _event, p in received] == [4, 4, 2]
    assert [s["id"] for _pub, _event, p in received for s in p["samples"]] == [str(n) for n in range(10)]
    assert {(pub, event) for pub, event, _p in received} == {("cloud-compute.cell1", EVENT_TYPE)}
    assert notifier.send([]) == 0


def test_another_cells_broker_does_not_hear_the_samples(fake_broker, sink):
    other = fake_broker + "-other"
    SampleNotifier(other, "cloud-compute.cell2").send([{"id": "x"}])
    SampleNotifier(fake_broker, "cloud-compute.cell1").send([{"id": "y"}])
    # Sent first on one shared queue, a misrouted notification would arrive first.
    received = sink.wait_for(1)
    assert received[0][2]["samples"] == [{"id": "y"}]


def test_batch_size_must_be_positive(fake_broker):
    with pytest.raises(ValueError):
        SampleNotifier(fake_broker, "p", batch_size=0)


# A RabbitMQ URL where nothing listens: every send fails at once (retry=0).
_DOWN = "rabbit://guest:guest@127.0.0.1:1/"


def test_batches_wait_while_the_broker_is_down_and_go_first_when_it_is_back(fake_broker, sink):
    notifier = SampleNotifier(_DOWN, "cloud-compute.cell1", batch_size=2, retry=0)
    assert notifier.send([{"id": "a"}, {"id": "b"}, {"id": "c"}]) == 0
    assert notifier.send([{"id": "d"}]) == 0
    assert notifier.pending == 4
    # The broker is back (the same notifier, now reaching a broker that answers).
    notifier._publisher = SampleNotifier(fake_broker, "cloud-compute.cell1")._publisher
    assert notifier.send([{"id": "e"}]) == 4
    received = sink.wait_for(4)
    assert [s["id"] for _pub, _event, p in received for s in p["samples"]] == list("abcde")
    assert notifier.pending == 0 and notifier.dropped == 0


def test_the_backlog_is_bounded_and_drops_the_oldest():
    notifier = SampleNotifier(_DOWN, "p", batch_size=2, backlog_samples=4, retry=0)
    for n in range(4):
        notifier.send([{"id": f"{n}a"}, {"id": f"{n}b"}])
    assert notifier.pending == 4 and notifier.dropped == 4
    assert [s["id"] for batch in notifier._backlog for s in batch] == ["2a", "2b", "3a", "3b"]


def test_the_poll_interval_travels_with_the_vcpus_and_cpu_samples():
    found = by_name(Pollster(interval=60.0).samples("hv1", counters(1000.0, 10.0), OWNER))
    assert found["vcpus"]["metadata"] == {"interval": 60.0}
    assert found["cpu"]["metadata"] == {"vcpus": 2, "interval": 60.0}
    assert found["memory"]["metadata"] == {}
    assert by_name(Pollster().samples("hv1", counters(1000.0, 10.0), OWNER))["vcpus"]["metadata"] == {}


def test_a_poll_larger_than_the_backlog_is_sent_whole_when_the_broker_takes_it(fake_broker, sink):
    notifier = SampleNotifier(fake_broker, "p", batch_size=2, backlog_samples=3)
    assert notifier.send([{"id": str(n)} for n in range(8)]) == 4
    received = sink.wait_for(4)
    assert [s["id"] for _pub, _event, p in received for s in p["samples"]] == [str(n) for n in range(8)]
    assert notifier.dropped == 0
