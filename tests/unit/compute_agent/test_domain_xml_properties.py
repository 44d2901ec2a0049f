"""Image properties in the domain XML: Windows enlightenments, disk bus, firmware."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from compute_agent.virt.driver import GuestSpec, HypervisorError
from compute_agent.virt.libvirt import xml

UUID = "6f1c2d3e-0000-4000-8000-000000000002"


def domain(virt_type: str = "kvm", firmware: str | None = None, **properties: str) -> ET.Element:
    spec = GuestSpec(uuid=UUID, vcpus=2, memory_mb=2048, disk_gb=10, image_path="/img/base",
                     image_format="qcow2", console_log="/st/console.log", properties=properties)
    return ET.fromstring(xml.domain_xml(spec, "/disks/x.qcow2", virt_type, firmware=firmware))


def test_defaults_without_properties():
    root = domain()
    assert root.find("clock").get("offset") == "utc" and root.find("clock/timer") is None
    assert root.find("features/hyperv") is None
    target = root.find("devices/disk/target")
    assert (target.get("dev"), target.get("bus")) == ("vda", "virtio")
    assert root.find("os/type").get("machine") == "pc" and root.find("os/loader") is None


@pytest.mark.parametrize("virt_type", ["kvm", "qemu"])
def test_windows_gets_enlightenments_and_localtime(virt_type):
    root = domain(virt_type, os_type="windows")
    hyperv = root.find("features/hyperv")
    assert hyperv.find("relaxed").get("state") == "on" and hyperv.find("vapic").get("state") == "on"
    assert hyperv.find("spinlocks").attrib == {"state": "on", "retries": "8191"}
    clock = root.find("clock")
    assert clock.get("offset") == "localtime"
    timers = {t.get("name"): t.attrib for t in clock.findall("timer")}
    assert timers["rtc"]["tickpolicy"] == "catchup" and timers["pit"]["tickpolicy"] == "delay"
    assert timers["hpet"]["present"] == "no" and timers["hypervclock"]["present"] == "yes"
    assert len(root.findall("clock")) == 1


def test_linux_keeps_utc():
    root = domain(os_type="linux")
    assert root.find("clock").get("offset") == "utc" and root.find("features/hyperv") is None


@pytest.mark.parametrize("bus,dev", [("virtio", "vda"), ("scsi", "sda"), ("sata", "sda"),
                                     ("ide", "hda"), ("usb", "sda")])
def test_disk_bus(bus, dev):
    target = domain(hw_disk_bus=bus).find("devices/disk/target")
    assert (target.get("dev"), target.get("bus")) == (dev, bus)


def test_uefi_loader_and_q35():
    root = domain(hw_firmware_type="uefi", firmware="/fw/OVMF_CODE.fd")
    loader = root.find("os/loader")
    assert loader.text == "/fw/OVMF_CODE.fd"
    assert loader.attrib == {"readonly": "yes", "type": "pflash"}
    assert root.find("os/type").get("machine") == "q35"


def test_uefi_without_firmware_is_refused(monkeypatch):
    monkeypatch.setattr(xml, "OVMF_CODE_PATHS", ("/nonexistent/OVMF_CODE.fd",))
    with pytest.raises(HypervisorError, match="UEFI"):
        domain(hw_firmware_type="uefi")


def test_bios_is_the_default_firmware():
    assert domain(hw_firmware_type="bios").find("os/loader") is None


def test_spec_round_trips_properties():
    spec = GuestSpec(uuid=UUID, vcpus=1, memory_mb=1, disk_gb=1, image_path="p", image_format="raw",
                     console_log="c", properties={"os_type": "windows"})
    assert GuestSpec.from_json(spec.to_json()) == spec


def test_libvirt_test_driver_accepts_the_xml():
    libvirt = pytest.importorskip("libvirt")
    conn = libvirt.open("test:///default")
    try:
        for props in ({"os_type": "windows", "hw_disk_bus": "sata"},
                      {"hw_firmware_type": "uefi", "hw_disk_bus": "scsi"}, {"hw_disk_bus": "ide"}):
            spec = GuestSpec(uuid=UUID, vcpus=1, memory_mb=64, disk_gb=1, image_path="/x",
                             image_format="qcow2", console_log="/tmp/c.log", properties=props)
            dom = conn.defineXML(xml.domain_xml(spec, "/tmp/d.qcow2", "kvm", firmware="/fw/OVMF_CODE.fd"))
            dom.undefine()
    finally:
        conn.close()


def nic(network: str = "user", **properties: str) -> ET.Element | None:
    spec = GuestSpec(uuid=UUID, vcpus=1, memory_mb=512, disk_gb=1, image_path="/img/base",
                     image_format="qcow2", console_log="/st/console.log", properties=properties)
    return ET.fromstring(xml.domain_xml(spec, "/disks/x.qcow2", "qemu", network=network)).find(
        "devices/interface")


@pytest.mark.parametrize("model", ["virtio", "e1000", "e1000e", "rtl8139", "ne2k_pci", "pcnet"])
def test_vif_model_chooses_the_nic(model):
    assert nic(hw_vif_model=model).find("model").get("type") == model


def test_nic_defaults_and_networks():
    user = nic()
    assert user.get("type") == "user" and user.find("model").get("type") == "virtio"
    assert user.find("mac").get("address") == "fa:16:3e:00:00:02" and user.find("target") is None
    bridged = nic("bridge:br-guests")
    assert bridged.find("source").attrib == {"bridge": "br-guests"}
    assert bridged.find("target").get("dev") == "tap6f1c2d3e000"
    assert nic("network:default").find("source").attrib == {"network": "default"}
    assert nic("none") is None


def test_simulated_host_accepts_the_nic_and_reports_its_stats(tmp_path):
    libvirt = pytest.importorskip("libvirt")
    node = tmp_path / "node.xml"
    node.write_text(xml.node_xml(2, 2048, "sim", "pool", str(tmp_path / "pool")))
    spec = GuestSpec(uuid=UUID, vcpus=1, memory_mb=512, disk_gb=1, image_path="/img/base",
                     image_format="qcow2", console_log=str(tmp_path / "console.log"),
                     properties={"hw_vif_model": "e1000"})
    conn = libvirt.open("test://" + str(node))
    try:
        dom = conn.defineXML(xml.domain_xml(spec, "/disks/x.qcow2", "qemu", network="bridge:br0"))
        dom.create()
        defined = ET.fromstring(dom.XMLDesc()).find("devices/interface")
        assert defined.find("model").get("type") == "e1000"
        assert len(dom.interfaceStats(xml.tap_name(UUID))) == 8
    finally:
        conn.close()
