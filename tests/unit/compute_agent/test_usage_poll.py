"""The agent's metering poll on simulated hosts: samples per guest, batches on the cell's broker."""

from __future__ import annotations

import math
from typing import Any

import pytest

from cells.context import RequestContext
from compute_agent.rpcapi import ComputeAPI
from compute_agent.usage import UsagePoller
from compute_agent.virt.driver import ComputeDriver, GuestCounters
from compute_agent.virt.libvirt import simulated_usage
from metering.pollsters.notifier import SampleNotifier
from tests.unit.compute_agent.conftest import qcow2_bytes
from tests.unit.metering.notifications import Sink

CTXT = RequestContext.admin()
BATCH = 7


def boot(cell, hosts_guests: dict[str, int]) -> dict[str, str]:
    """Build guests (2 vCPUs, 1 GiB each) on the hosts and wait until active; returns {uuid: host}."""
    image = cell.upload_image(qcow2_bytes())
    placed = {}
    for host, count in hosts_guests.items():
        for _ in range(count):
            instance = cell.schedule(host, vcpus=2, ram=1024)
            ComputeAPI(cell.conf.broker_url).build_and_run_instance(CTXT, host, instance, image)
            placed[instance["uuid"]] = host
    for uuid in placed:
        cell.updates.wait_for(lambda u, i=uuid: u["uuid"] == i and u["vm_state"] == "active")
    return placed


def poller(cell, drivers) -> UsagePoller:
    return UsagePoller(cell.db, drivers, SampleNotifier(cell.conf.broker_url, "test", batch_size=BATCH))


def samples_of(received: list[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [s for _pub, _event, payload in received for s in payload["samples"]]


def test_every_running_guest_is_sampled_and_sent_in_batches(cell):
    group = cell.start_agents(["hv1", "hv2"])
    placed = boot(cell, {"hv1": 2, "hv2": 1})
    usage = poller(cell, group.drivers)
    with Sink.listening(cell.conf.broker_url) as sink:
        first = usage.poll()
        received = sink.wait_for(first.notifications)
        assert first.guests == 3 and first.failed == ()
        assert first.notifications == math.ceil(first.samples / BATCH)
        assert all(len(p["samples"]) <= BATCH for _pub, _event, p in received)
        second = usage.poll()
        received = sink.wait_for(first.notifications + second.notifications)
    samples = samples_of(received)
    assert len(samples) == first.samples + second.samples
    assert len({s["id"] for s in samples}) == len(samples)
    for uuid, host in placed.items():
        mine = [s for s in samples if s["instance_id"] == uuid]
        assert {(s["host"], s["project_id"], s["user_id"]) for s in mine} == {(host, "p" * 32, "u" * 32)}
        cpu = [s["volume"] for s in mine if s["name"] == "cpu"]
        assert len(cpu) == 2 and cpu[1] > cpu[0]  # growing between polls
        reads = [s["volume"] for s in mine if s["name"] == "disk.device.read.bytes"]
        assert len(reads) == 2 and reads[1] > reads[0]
        (util,) = [s["volume"] for s in mine if s["name"] == "cpu_util"]
        assert util == pytest.approx(100 * simulated_usage.utilisation(uuid), rel=1e-3)
        (used, _again) = [s["volume"] for s in mine if s["name"] == "memory.usage"]
        assert used == pytest.approx(1024 * simulated_usage.memory_fraction(uuid), abs=1 / 1024)
        names = {s["name"] for s in mine}
        assert {"network.incoming.bytes", "network.outgoing.packets", "disk.device.write.requests",
                "disk.device.read.bytes.rate", "network.incoming.bytes.rate", "vcpus"} <= names


def test_stopped_guests_are_not_sampled(cell):
    group = cell.start_agents(["hv1"])
    placed = boot(cell, {"hv1": 2})
    stopped, running = list(placed)
    group.drivers()["hv1"].power_off(stopped, timeout=0)
    with Sink.listening(cell.conf.broker_url) as sink:
        result = poller(cell, group.drivers).poll()
        received = sink.wait_for(result.notifications)
    assert result.guests == 1 and result.failed == ()
    assert {s["instance_id"] for s in samples_of(received)} == {running}


class Vanishing:
    """A host whose ``victim`` guest is deleted between the listing and its reading."""

    def __init__(self, real: ComputeDriver, victim: str) -> None:
        self.real = real
        self.victim = victim

    def list_instances(self) -> dict[str, int]:
        return self.real.list_instances()

    def guest_counters(self, uuid: str) -> GuestCounters | None:
        if uuid == self.victim:
            self.real.destroy(uuid)
        return self.real.guest_counters(uuid)


class Failing(Vanishing):
    """A host whose ``victim`` guest does not answer at all."""

    def guest_counters(self, uuid: str) -> GuestCounters | None:
        if uuid == self.victim:
            raise RuntimeError("the hypervisor hung up")
        return self.real.guest_counters(uuid)


@pytest.mark.parametrize("wrapper", [Vanishing, Failing])
def test_a_guest_that_vanishes_or_fails_mid_poll_does_not_drop_the_batch(cell, wrapper):
    group = cell.start_agents(["hv1"])
    placed = boot(cell, {"hv1": 3})
    victim = sorted(placed)[1]
    drivers = {"hv1": wrapper(group.drivers()["hv1"], victim)}
    usage = poller(cell, lambda: drivers)
    with Sink.listening(cell.conf.broker_url) as sink:
        result = usage.poll()
        received = sink.wait_for(result.notifications)
    assert result.failed == (victim,) and result.guests == 2
    sampled = {s["instance_id"] for s in samples_of(received)}
    assert sampled == set(placed) - {victim}


def test_the_agent_group_polls_on_its_configured_period(cell):
    group = cell.start_agents(["hv1"])
    boot(cell, {"hv1": 1})
    assert any(t.name == "compute-metering" and t.interval == cell.conf.metering_poll_interval
               for t in group._tasks)
    with Sink.listening(cell.conf.broker_url) as sink:
        group.poll_usage()
        received = sink.wait_for(1)
    assert received[0][0] == "cloud-compute.cell1" and received[0][1] == "metering.samples"
