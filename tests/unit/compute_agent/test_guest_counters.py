"""Guest counters through libvirt's test driver and the simulated hosts' usage model."""

from __future__ import annotations

import uuid

import pytest

from compute_agent.virt.driver import GuestCounters, GuestSpec, InstanceNotFound
from compute_agent.virt.libvirt import simulated_usage, stats
from compute_agent.virt.libvirt.driver import LibvirtDriver
from compute_agent.virt.libvirt.xml import node_xml, tap_name
from tests.unit.compute_agent.conftest import qcow2_bytes


@pytest.fixture
def host(tmp_path):
    pool = str(tmp_path / "disks")
    node = tmp_path / "node.xml"
    node.write_text(node_xml(8, 16384, "Broadwell", "cloud-hv1", pool))
    image = tmp_path / "base.qcow2"
    image.write_bytes(qcow2_bytes())
    made: list[LibvirtDriver] = []

    def open_host(network: str = "user") -> tuple[LibvirtDriver, str]:
        driver = LibvirtDriver("test://" + str(node), "kvm", "cloud-hv1", pool, hostname="hv1",
                               lifecycle_events=False, owner="hv1", guest_network=network)
        made.append(driver)
        return driver, str(image)

    yield open_host
    for driver in made:
        driver.close()


def spawn(driver: LibvirtDriver, image: str, vcpus: int = 2, memory_mb: int = 1024) -> str:
    spec = GuestSpec(uuid=str(uuid.uuid4()), vcpus=vcpus, memory_mb=memory_mb, disk_gb=1,
                     image_path=image, image_format="qcow2", console_log="/tmp/console.log")
    driver.spawn(spec)
    return spec.uuid


def two_readings(driver: LibvirtDriver, guest: str) -> tuple[GuestCounters, GuestCounters]:
    first = driver.guest_counters(guest)
    second = driver.guest_counters(guest)
    while second is not None and first is not None and second.read_at <= first.read_at:
        second = driver.guest_counters(guest)  # the clock's resolution: read again
    assert first is not None and second is not None
    return first, second


def test_counters_name_the_devices_and_size_the_memory(host):
    driver, image = host("bridge:br-guests")
    guest = spawn(driver, image, vcpus=2, memory_mb=1024)
    counters = driver.guest_counters(guest)
    assert counters is not None and counters.uuid == guest and counters.vcpus == 2
    assert [d.device for d in counters.disks] == ["vda"]
    assert [n.device for n in counters.nics] == [tap_name(guest)]
    assert counters.memory_available_kib == 1024 * 1024
    assert counters.memory_used_kib == int(1024 * 1024 * simulated_usage.memory_fraction(guest))


def test_user_nic_is_read_under_the_name_libvirt_gave_it(host):
    driver, image = host("user")
    guest = spawn(driver, image)
    counters = driver.guest_counters(guest)
    assert counters is not None and len(counters.nics) == 1 and counters.nics[0].device


def test_counters_grow_at_the_model_rates(host):
    driver, image = host("bridge:br-guests")
    guest = spawn(driver, image, vcpus=4)
    first, second = two_readings(driver, guest)
    seconds = second.read_at - first.read_at
    cpu = second.cpu_time_ns - first.cpu_time_ns
    assert cpu > 0
    assert cpu == pytest.approx(seconds * 4 * simulated_usage.utilisation(guest) * 1e9, abs=2)
    read_rate, write_rate = simulated_usage.disk_rates(guest, "vda")
    (d1,), (d2,) = first.disks, second.disks
    assert d2.read_bytes - d1.read_bytes == pytest.approx(read_rate * seconds, abs=2)
    assert d2.write_bytes - d1.write_bytes == pytest.approx(write_rate * seconds, abs=2)
    assert d2.read_requests == d2.read_bytes // simulated_usage.READ_REQUEST_BYTES
    assert d2.write_requests == d2.write_bytes // simulated_usage.WRITE_REQUEST_BYTES
    rx_rate, tx_rate = simulated_usage.nic_rates(guest, "nic0")
    (n1,), (n2,) = first.nics, second.nics
    assert n2.rx_bytes - n1.rx_bytes == pytest.approx(rx_rate * seconds, abs=2)
    assert n2.tx_bytes - n1.tx_bytes == pytest.approx(tx_rate * seconds, abs=2)
    assert n2.rx_packets == n2.rx_bytes // simulated_usage.RX_PACKET_BYTES
    assert n2.tx_packets == n2.tx_bytes // simulated_usage.TX_PACKET_BYTES
    # Every counter measures the same running time.
    running = second.cpu_time_ns / (4 * simulated_usage.utilisation(guest) * 1e9)
    assert d2.read_bytes == pytest.approx(read_rate * running, abs=read_rate * 1e-6 + 2)


def test_a_stopped_guest_has_no_counters_and_restarts_from_zero(host):
    driver, image = host()
    guest = spawn(driver, image)
    two_readings(driver, guest)
    driver.power_off(guest, timeout=0)
    assert driver.guest_counters(guest) is None
    driver.power_on(guest)
    after = driver.guest_counters(guest)
    assert after is not None and after.cpu_time_ns < 10**9  # counted from the new start


def test_a_missing_guest_raises_instance_not_found(host):
    driver, _image = host()
    with pytest.raises(InstanceNotFound):
        driver.guest_counters(str(uuid.uuid4()))


def test_model_rates_stay_in_their_documented_ranges():
    for _ in range(200):
        guest = str(uuid.uuid4())
        assert 0.05 <= simulated_usage.utilisation(guest) < 0.95
        assert 0.3 <= simulated_usage.memory_fraction(guest) < 0.9
        for rate in simulated_usage.disk_rates(guest, "vda"):
            assert 64 * 1024 <= rate <= 4096 * 1024
        for rate in simulated_usage.nic_rates(guest, "nic0"):
            assert 1024 <= rate <= 1024 * 1024
    guest = str(uuid.uuid4())
    assert simulated_usage.utilisation(guest) == simulated_usage.utilisation(guest)


def test_model_of_zero_running_time_is_all_zero():
    raw = GuestCounters(uuid=str(uuid.uuid4()), read_at=1.0, vcpus=2, cpu_time_ns=48 * 10**9,
                        memory_used_kib=1, memory_available_kib=2048)
    modelled = simulated_usage.model(raw, 0.0)
    assert modelled.cpu_time_ns == 0 and modelled.memory_available_kib == 2048


@pytest.mark.parametrize(("raw", "expected"), [
    ({"available": 1000, "unused": 300, "actual": 1200, "rss": 900}, (700, 1000)),
    ({"actual": 1200, "rss": 900}, (900, 1200)),
    ({}, (512, 512)),
])
def test_memory_from_balloon_statistics(raw, expected):
    assert stats.memory_kib(raw, 512) == expected


def test_devices_are_read_from_the_domain_xml():
    document = """<domain><devices>
      <disk type='file' device='disk'><target dev='vda'/></disk>
      <disk type='file' device='cdrom'><target dev='hdc'/></disk>
      <interface type='user'><target dev='vnet3'/></interface></devices></domain>"""
    assert stats.devices(document) == (["vda"], ["vnet3"])
