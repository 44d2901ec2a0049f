"""Libvirt XML documents, as pure text (no libvirt)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from compute_agent.virt.driver import GuestSpec
from compute_agent.virt.libvirt import xml

UUID = "6f1c2d3e-0000-4000-8000-000000000001"


def spec(**kwargs) -> GuestSpec:
    values = dict(uuid=UUID, vcpus=2, memory_mb=2048, disk_gb=10, image_path="/img/base",
                  image_format="qcow2", console_log=f"/st/{UUID}/console.log")
    values.update(kwargs)
    return GuestSpec(**values)


@pytest.mark.parametrize("virt_type", ["kvm", "qemu"])
def test_domain_from_flavor_image_and_paths(virt_type):
    root = ET.fromstring(xml.domain_xml(spec(), "/disks/x.qcow2", virt_type))
    assert root.get("type") == virt_type
    assert root.findtext("name") == f"instance-{UUID}" and root.findtext("uuid") == UUID
    assert root.find("memory").get("unit") == "MiB" and root.findtext("memory") == "2048"
    assert root.findtext("vcpu") == "2"
    assert root.findtext("os/type") == "hvm" and root.find("os/boot").get("dev") == "hd"
    assert root.find("os/kernel") is None
    disk = root.find("devices/disk")
    assert disk.find("driver").get("type") == "qcow2"
    assert disk.find("source").get("file") == "/disks/x.qcow2"
    assert (disk.find("target").get("dev"), disk.find("target").get("bus")) == ("vda", "virtio")
    serial, console = root.find("devices/serial"), root.find("devices/console")
    assert serial.get("type") == "file" and serial.find("source").get("path").endswith("console.log")
    assert console.find("source").get("path") == serial.find("source").get("path")
    assert console.find("target").get("type") == "serial"
    assert root.find("devices/memballoon").get("model") == "virtio"
    assert (root.find("cpu") is not None) == (virt_type == "kvm")


def test_direct_kernel_boot():
    root = ET.fromstring(xml.domain_xml(spec(kernel="/k", initrd="/i", cmdline="console=ttyS0"),
                                        "/d", "qemu"))
    assert (root.findtext("os/kernel"), root.findtext("os/initrd"), root.findtext("os/cmdline")) == \
        ("/k", "/i", "console=ttyS0")
    assert root.find("os/boot") is None


def test_paths_are_escaped_not_injected():
    root = ET.fromstring(xml.domain_xml(spec(console_log="/a'<b>&c"), "/d", "qemu"))
    assert root.find("devices/serial/source").get("path") == "/a'<b>&c"


def test_unknown_virt_type_is_refused():
    with pytest.raises(ValueError):
        xml.domain_xml(spec(), "/d", "xen")


def test_volume_is_a_qcow2_overlay():
    root = ET.fromstring(xml.volume_xml("u.qcow2", 5 * 2**30, "/img/base", "raw"))
    assert root.findtext("name") == "u.qcow2" and root.findtext("capacity") == str(5 * 2**30)
    assert root.find("target/format").get("type") == "qcow2"
    assert root.findtext("backingStore/path") == "/img/base"
    assert root.find("backingStore/format").get("type") == "raw"


def test_node_document_of_a_simulated_host():
    root = ET.fromstring(xml.node_xml(48, 262144, "Skylake", "cloud-h1", "/st/h1/disks"))
    cpu = root.find("cpu")
    cores = [int(cpu.findtext(k)) for k in ("nodes", "sockets", "cores", "threads")]
    assert cores[0] * cores[1] * cores[2] * cores[3] == 48
    assert cpu.findtext("model") == "Skylake"
    assert root.findtext("memory") == str(262144 * 1024)  # KiB
    pool = root.find("pool")
    assert pool.get("type") == "dir" and pool.findtext("name") == "cloud-h1"
    assert pool.findtext("target/path") == "/st/h1/disks"
    assert pool.findtext("uuid") == xml.pool_uuid("/st/h1/disks")
    with pytest.raises(ValueError):
        xml.node_xml(0, 1024, "x", "p", "/p")


def test_guest_spec_round_trips_through_json():
    original = spec(kernel="/k", cmdline="x")
    assert GuestSpec.from_json(original.to_json()) == original


def test_owner_is_recorded_in_metadata_and_read_back():
    root = ET.fromstring(xml.domain_xml(spec(), "/disks/x.qcow2", "kvm", owner="hv<1>"))
    owner = root.find(f"metadata/{{{xml.METADATA_NS}}}instance/{{{xml.METADATA_NS}}}owner")
    assert owner is not None and owner.text == "hv<1>"
    assert xml.owner_of(xml.owner_metadata("hv<1>")) == "hv<1>"
    assert xml.owner_of("<instance/>") is None and xml.owner_of("not xml") is None
    assert ET.fromstring(xml.domain_xml(spec(), "/d", "kvm")).find("metadata") is None
