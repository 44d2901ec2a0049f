"""The agent against simulated hosts: registration, builds, failures."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from cells.context import RequestContext
from cells.db.cell_models import Service
from compute_agent.agent import AgentGroup
from compute_agent.errors import DuplicateHost
from compute_agent.rpcapi import ComputeAPI
from compute_agent.virt.driver import InstanceNotFound
from tests.unit.compute_agent.conftest import GiB, qcow2_bytes

CTXT = RequestContext.admin()


def build(cell, host: str, image: dict, **flavor) -> dict:
    instance = cell.schedule(host, **flavor)
    ComputeAPI(cell.conf.broker_url).build_and_run_instance(CTXT, host, instance, image)
    return instance


def test_registration_writes_service_and_node_rows(cell):
    group = cell.start_agents(["hv1"])
    node = cell.node("hv1")
    assert (node["vcpus"], node["memory_mb"], node["local_gb"]) == (8, 16384, 100)
    assert node["cpu_model"] == "Broadwell" and node["hs06_per_core"] == 12.5
    assert node["cpu_allocation_ratio"] == cell.conf.cpu_allocation_ratio
    with cell.db.session() as session:
        service = session.execute(sa.select(Service).where(Service.host == "hv1")).scalar_one()
    agent = group.agents["hv1"]
    assert service.binary == "cloud-compute" and service.identity == agent.identity
    identity_file = os.path.join(cell.conf.state_dir, "hosts", "hv1", "identity")
    assert open(identity_file).read().strip() == agent.identity
    assert os.path.exists(os.path.join(cell.conf.state_dir, "hosts", "hv1", "node.xml"))


def test_restart_keeps_identity_and_a_second_live_identity_is_refused(cell):
    group = cell.start_agents(["hv1"])
    identity = group.agents["hv1"].identity
    # Same machine, same state directory: the lock refuses at once.
    with pytest.raises(DuplicateHost, match="already runs"):
        cell.start_agents(["hv1"])
    cell.stop_agents(group)
    again = cell.start_agents(["hv1"])
    assert again.agents["hv1"].identity == identity
    cell.stop_agents(again)
    # Another machine (another identity) while the row is fresh: refused with one line.
    os.unlink(os.path.join(cell.conf.state_dir, "hosts", "hv1", "identity"))
    with pytest.raises(DuplicateHost, match="served by another cloud-compute") as err:
        cell.start_agents(["hv1"])
    assert "\n" not in str(err.value)


def test_build_sets_row_active_and_sends_it_up(cell):
    group = cell.start_agents(["hv1"])
    image = cell.upload_image(qcow2_bytes())
    instance = build(cell, "hv1", image, vcpus=2, ram=1024, disk=5)
    update = cell.updates.wait_for(lambda u: u["uuid"] == instance["uuid"])
    assert update["vm_state"] == "active" and update["task_state"] is None
    assert update["version"] == 2 and update["cell_path"] == "top!cell1" and update["host"] == "hv1"
    assert update["power_state"] == 1 and update["launched_at"]
    row = cell.row(instance["uuid"])
    assert (row["vm_state"], row["version"], row["task_deadline"]) == ("active", 2, None)
    env = group.agents["hv1"].env
    assert env.driver.power_state(instance["uuid"]) == 1
    assert os.path.exists(os.path.join(env.paths.images, image["id"]))
    console = env.paths.console_log(instance["uuid"])
    assert os.path.isdir(os.path.dirname(console))


def test_build_path_costs_two_statements(cell):
    group = cell.start_agents(["hv1"])
    image = cell.upload_image(qcow2_bytes())
    first = build(cell, "hv1", image)
    cell.updates.wait_for(lambda u: u["uuid"] == first["uuid"])  # warms the image cache
    instance = cell.schedule("hv1")
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement.split()[0].upper())

    sa.event.listen(cell.db.engine, "before_cursor_execute", count)
    sa.event.listen(cell.db.engine, "commit", lambda conn: statements.append("COMMIT"))
    try:
        ComputeAPI(cell.conf.broker_url).build_and_run_instance(CTXT, "hv1", instance, image)
        cell.updates.wait_for(lambda u: u["uuid"] == instance["uuid"])
        assert group.queue.join(5)
    finally:
        sa.event.remove(cell.db.engine, "before_cursor_execute", count)
    assert statements == ["UPDATE", "COMMIT"]


def test_image_is_fetched_once_per_host(cell):
    group = cell.start_agents(["hv1"])
    image = cell.upload_image(qcow2_bytes())
    fetched = []
    cache = group.agents["hv1"].env.images
    original = cache._download
    cache._download = lambda *a: (fetched.append(a[0]), original(*a))[1]
    instances = [build(cell, "hv1", image) for _ in range(5)]
    for instance in instances:
        cell.updates.wait_for(lambda u, i=instance: u["uuid"] == i["uuid"] and u["vm_state"] == "active")
    assert fetched == [image["id"]]


def test_kernel_and_ramdisk_are_fetched_for_direct_boot(cell):
    group = cell.start_agents(["hv1"])
    kernel = cell.upload_image(b"kernel-bytes", disk_format="aki")
    ramdisk = cell.upload_image(b"ramdisk-bytes", disk_format="ari")
    image = cell.upload_image(qcow2_bytes(), kernel_id=kernel["id"], ramdisk_id=ramdisk["id"],
                              os_command_line="console=ttyS0")
    instance = build(cell, "hv1", image)
    update = cell.updates.wait_for(lambda u: u["uuid"] == instance["uuid"])
    assert update["vm_state"] == "active"
    env = group.agents["hv1"].env
    from compute_agent.guests import load_spec

    spec = load_spec(env, instance["uuid"])
    assert spec.kernel == env.images.path(kernel["id"]) and spec.initrd == env.images.path(ramdisk["id"])
    assert spec.cmdline == "console=ttyS0"
    assert open(spec.kernel, "rb").read() == b"kernel-bytes"


def _assert_failed_and_released(cell, group, instance, message):
    update = cell.updates.wait_for(lambda u: u["uuid"] == instance["uuid"])
    assert update["vm_state"] == "error" and update["version"] == 2 and update["host"] is None
    assert message in update["fault"]["message"] and update["fault"]["created"]
    node = cell.node("hv1")
    assert (node["vcpus_used"], node["memory_mb_used"], node["local_gb_used"], node["running_vms"]) == \
        (0, 0, 0, 0)
    env = group.agents["hv1"].env
    with pytest.raises(InstanceNotFound):
        env.driver.power_state(instance["uuid"])
    assert not os.path.exists(env.paths.instance_dir(instance["uuid"]))
    assert env.capacity.used().vcpus == 0


def test_corrupt_image_fails_the_build_and_releases_the_claim(cell):
    group = cell.start_agents(["hv1"])
    image = cell.upload_image(qcow2_bytes())
    image["id"] = image["id"]
    # The image metadata promises other data than the service holds.
    tampered = {**image, "os_hash_algo": "sha512", "os_hash_value": "0" * 128}
    instance = build(cell, "hv1", tampered)
    _assert_failed_and_released(cell, group, instance, "does not match")
    assert not os.path.exists(group.agents["hv1"].env.images.path(image["id"]))


def test_build_beyond_the_host_fails_and_releases_the_claim(cell):
    group = cell.start_agents(["hv1"])
    image = cell.upload_image(qcow2_bytes())
    # 8 CPUs x 4.0 = 32 vCPUs; the test driver itself would start anything.
    instance = build(cell, "hv1", image, vcpus=64)
    _assert_failed_and_released(cell, group, instance, "cannot fit")


def test_small_disk_is_grown_to_the_image_size(cell):
    group = cell.start_agents(["hv1"])
    image = cell.upload_image(qcow2_bytes(virtual_size=3 * GiB))
    instance = build(cell, "hv1", image, disk=0)
    cell.updates.wait_for(lambda u: u["uuid"] == instance["uuid"] and u["vm_state"] == "active")
    driver = group.agents["hv1"].env.driver
    volume = driver._pool().storageVolLookupByName(f"{instance['uuid']}.qcow2")
    assert volume.info()[1] == 3 * GiB


def test_four_simulated_hosts_in_one_process(cell):
    from compute_agent.cmd import host_names

    hosts = host_names("sim", 4)
    assert hosts == ["sim-001", "sim-002", "sim-003", "sim-004"]
    group: AgentGroup = cell.start_agents(hosts)
    identities = {a.identity for a in group.agents.values()}
    assert len(identities) == 4
    image = cell.upload_image(qcow2_bytes())
    instances = {host: build(cell, host, image) for host in hosts}
    for host, instance in instances.items():
        update = cell.updates.wait_for(lambda u, i=instance: u["uuid"] == i["uuid"])
        assert update["vm_state"] == "active" and update["host"] == host
    # Each host has its own hypervisor: it sees its own guest only.
    for host, instance in instances.items():
        assert list(group.agents[host].env.driver.list_instances()) == [instance["uuid"]]
    for host in hosts:
        assert cell.node(host)["vcpus"] == 8


def test_agent_ignores_guests_it_does_not_own(cell):
    """Agents sharing one hypervisor never take each other's guests for their own."""
    group: AgentGroup = cell.start_agents(["hv1"])
    image = cell.upload_image(qcow2_bytes())
    mine = build(cell, "hv1", image)
    cell.updates.wait_for(lambda u: u["uuid"] == mine["uuid"] and u["vm_state"] == "active")
    driver = group.agents["hv1"].env.driver
    conn = driver.conn()
    from compute_agent.virt.libvirt import xml as xmlmod

    for n, owner in enumerate(["hv2", None]):
        other = xmlmod.domain_xml(
            xmlmod_spec(f"6f1c2d3e-0000-4000-8000-00000000010{n}"), "/nowhere.qcow2", "kvm",
            owner=owner)
        conn.defineXML(other).create()
    assert list(driver.list_instances()) == [mine["uuid"]]


def xmlmod_spec(uuid_: str):
    from compute_agent.virt.driver import GuestSpec

    return GuestSpec(uuid=uuid_, vcpus=1, memory_mb=64, disk_gb=1, image_path="/i",
                     image_format="qcow2", console_log="/tmp/c.log")


def test_pool_of_our_name_pointing_elsewhere_is_refused(cell, tmp_path):
    from compute_agent.virt.driver import HypervisorError

    group: AgentGroup = cell.start_agents(["hv1"])
    driver = group.agents["hv1"].env.driver
    driver._ensure_pool()  # its own path: fine
    driver.pool_path = str(tmp_path / "elsewhere")
    with pytest.raises(HypervisorError, match="points to"):
        driver._ensure_pool()
