"""The agent's actions, deadlines and resync against a simulated host."""

from __future__ import annotations

import datetime as dt
import os

import pytest
import sqlalchemy as sa

from cells import states
from cells.db.cell_models import ComputeNode, Instance
from cells.db.types import utcnow
from compute_agent.rpcapi import ComputeAPI
from compute_agent.virt.driver import HypervisorError, InstanceNotFound
from tests.unit.compute_agent.conftest import qcow2_bytes
from tests.unit.compute_agent.test_agent_build import CTXT, build


@pytest.fixture
def running(cell):
    """(group, env, api, instance) with one active instance on host hv1."""
    group = cell.start_agents(["hv1"])
    image = cell.upload_image(qcow2_bytes())
    instance = build(cell, "hv1", image, vcpus=2, ram=1024, disk=3)
    cell.updates.wait_for(lambda u: u["uuid"] == instance["uuid"] and u["vm_state"] == "active")
    return group, group.agents["hv1"].env, ComputeAPI(cell.conf.broker_url), instance


def wait_version(cell, uuid, version):
    return cell.updates.wait_for(lambda u: u["uuid"] == uuid and u["version"] == version)


def test_stop_start_and_reboots(cell, running):
    group, env, api, instance = running
    uuid = instance["uuid"]
    api.stop_instance(CTXT, "hv1", uuid)
    update = wait_version(cell, uuid, 4)  # task state set (3), then stopped (4)
    assert (update["vm_state"], update["task_state"], update["power_state"]) == ("stopped", None, 4)
    assert env.driver.power_state(uuid) == states.SHUTDOWN
    assert cell.row(uuid)["task_deadline"] is None
    api.start_instance(CTXT, "hv1", uuid)
    update = wait_version(cell, uuid, 6)
    assert (update["vm_state"], update["power_state"]) == ("active", 1)
    api.reboot_instance(CTXT, "hv1", uuid, hard=False)
    assert wait_version(cell, uuid, 8)["vm_state"] == "active"
    api.reboot_instance(CTXT, "hv1", uuid, hard=True)
    update = wait_version(cell, uuid, 10)
    assert (update["vm_state"], update["task_state"], update["power_state"]) == ("active", None, 1)
    assert env.driver.power_state(uuid) == states.RUNNING


def test_terminate_deletes_everything_and_releases_the_claim(cell, running):
    group, env, api, instance = running
    uuid = instance["uuid"]
    assert cell.node("hv1")["vcpus_used"] == 2
    api.terminate_instance(CTXT, "hv1", uuid)
    update = wait_version(cell, uuid, 4)
    assert update["vm_state"] == "deleted" and update["deleted"] is True
    assert update["deleted_at"] and update["terminated_at"]
    row = cell.row(uuid)
    assert row["deleted"] and row["vm_state"] == "deleted"
    node = cell.node("hv1")
    assert (node["vcpus_used"], node["memory_mb_used"], node["local_gb_used"], node["running_vms"]) == \
        (0, 0, 0, 0)
    with pytest.raises(InstanceNotFound):
        env.driver.power_state(uuid)
    assert not os.path.exists(env.paths.instance_dir(uuid))
    # A repeated delete converges: no second release, the state is sent again.
    count = len(cell.updates.received)
    api.terminate_instance(CTXT, "hv1", uuid)
    assert group.queue.join(5)
    cell.updates.wait_for(lambda u: len(cell.updates.received) > count)
    assert cell.node("hv1")["vcpus_used"] == 0 and cell.row(uuid)["version"] == 4


def test_repeated_stop_converges_and_clears_the_index_task(cell, running):
    group, env, api, instance = running
    uuid = instance["uuid"]
    api.stop_instance(CTXT, "hv1", uuid)
    wait_version(cell, uuid, 4)
    api.stop_instance(CTXT, "hv1", uuid)  # already stopped: answered with a newer version
    update = wait_version(cell, uuid, 5)
    assert (update["vm_state"], update["task_state"]) == ("stopped", None)


def test_failed_action_records_a_fault_and_keeps_the_state(cell, running):
    group, env, api, instance = running
    uuid = instance["uuid"]

    def broken(uuid_, hard):
        raise HypervisorError("reboot refused")

    env.driver.reboot = broken
    api.reboot_instance(CTXT, "hv1", uuid, hard=False)
    update = wait_version(cell, uuid, 4)
    assert (update["vm_state"], update["task_state"]) == ("active", None)
    assert "reboot refused" in update["fault"]["message"]


def test_missing_domain_on_terminate_is_fine(cell, running):
    group, env, api, instance = running
    uuid = instance["uuid"]
    env.driver.destroy(uuid)  # vanished behind the agent's back (its event may respawn it first)
    api.terminate_instance(CTXT, "hv1", uuid)
    cell.updates.wait_for(lambda u: u["uuid"] == uuid and u["vm_state"] == "deleted")
    with pytest.raises(InstanceNotFound):
        env.driver.power_state(uuid)
    assert cell.node("hv1")["running_vms"] == 0


def _expire(cell, uuid, task_state, vm_state="active"):
    table = Instance.__table__
    with cell.db.session() as session:
        session.execute(sa.update(table).where(table.c.uuid == uuid).values(
            task_state=task_state, vm_state=vm_state, task_deadline=utcnow() - dt.timedelta(seconds=1)))


def test_deadline_resolves_a_stuck_task_with_a_fault(cell, running):
    group, env, api, instance = running
    uuid = instance["uuid"]
    _expire(cell, uuid, states.REBOOTING)
    assert group.resolve_deadlines() == 1
    update = wait_version(cell, uuid, 3)
    assert (update["vm_state"], update["task_state"]) == ("active", None)
    assert "rebooting did not finish before its deadline" in update["fault"]["message"]
    assert group.resolve_deadlines() == 0


def test_deadline_of_a_lost_build_errors_it_and_releases_the_claim(cell):
    group = cell.start_agents(["hv1"])
    instance = cell.schedule("hv1", vcpus=3, deadline=utcnow() - dt.timedelta(seconds=1))
    assert cell.node("hv1")["vcpus_used"] == 3
    assert group.resolve_deadlines() == 1
    update = wait_version(cell, instance["uuid"], 2)
    assert update["vm_state"] == "error" and update["host"] is None
    assert "spawning did not finish" in update["fault"]["message"]
    assert cell.node("hv1")["vcpus_used"] == 0


def test_resync_never_destroys_on_an_incomplete_view(cell, running):
    group, env, api, instance = running
    orphan = cell.schedule("hv1")
    with cell.db.session() as session:  # the row goes away; its guest would be an orphan
        session.execute(sa.delete(Instance.__table__).where(Instance.__table__.c.uuid == orphan["uuid"]))
    env.driver.spawn(_spec_like(env, instance, orphan["uuid"]))
    real_list = env.driver.list_instances

    def failing():
        raise HypervisorError("listing domains failed")

    env.driver.list_instances = failing
    group.resync()
    assert group.queue.join(5)
    assert env.driver.power_state(orphan["uuid"]) == states.RUNNING
    assert env.driver.power_state(instance["uuid"]) == states.RUNNING
    # With a complete view the orphan goes, the instance stays.
    env.driver.list_instances = real_list
    group.resync()
    assert group.queue.join(5)
    with pytest.raises(InstanceNotFound):
        env.driver.power_state(orphan["uuid"])
    assert env.driver.power_state(instance["uuid"]) == states.RUNNING


def _spec_like(env, instance, uuid):
    import dataclasses

    from compute_agent.guests import load_spec

    spec = load_spec(env, instance["uuid"])
    return dataclasses.replace(spec, uuid=uuid, console_log=env.paths.console_log(uuid))


def test_resync_recreates_a_lost_domain_and_records_a_guest_shutdown(cell, running):
    group, env, api, instance = running
    uuid = instance["uuid"]
    env.driver.destroy(uuid)
    group.resync()
    assert group.queue.join(5)
    assert env.driver.power_state(uuid) == states.RUNNING
    env.driver._domain(uuid).shutdown()  # the guest powers itself off
    group.resync()
    update = cell.updates.wait_for(lambda u: u["uuid"] == uuid and u["vm_state"] == "stopped")
    assert update["power_state"] == states.SHUTDOWN and update["task_state"] is None


def test_heal_recomputes_usage_from_rows(cell, running):
    group, env, api, instance = running
    nodes = ComputeNode.__table__
    with cell.db.session() as session:
        session.execute(sa.update(nodes).where(nodes.c.host == "hv1").values(
            vcpus_used=99, memory_mb_used=1, local_gb_used=0, running_vms=7))
    assert group.heal() == 1
    node = cell.node("hv1")
    assert (node["vcpus_used"], node["memory_mb_used"], node["local_gb_used"], node["running_vms"]) == \
        (2, 1024, 3, 1)
    assert group.heal() == 0


def test_startup_resumes_a_task_left_by_an_earlier_run(cell, running):
    group, env, api, instance = running
    uuid = instance["uuid"]
    cell.stop_agents(group)
    table = Instance.__table__
    with cell.db.session() as session:
        session.execute(sa.update(table).where(table.c.uuid == uuid).values(
            task_state=states.POWERING_OFF))
    group = cell.start_agents(["hv1"])  # a fresh test driver: the domain is gone too
    update = cell.updates.wait_for(lambda u: u["uuid"] == uuid and u["vm_state"] == "stopped")
    assert update["task_state"] is None
    assert group.agents["hv1"].env.driver.power_state(uuid) == states.SHUTDOWN


def test_heartbeat_fences_a_host_taken_over(cell):
    group = cell.start_agents(["hv1"])
    group.heartbeat()
    assert group.live()
    table = sa.table("services", sa.column("identity"), sa.column("host"))
    with cell.db.session() as session:
        session.execute(sa.update(table).where(table.c.host == "hv1").values(identity="someone-else"))
    group.heartbeat()
    assert group.agents["hv1"].fenced and not group.live()


def test_a_guest_powering_itself_off_is_noticed_by_its_lifecycle_event(cell, running):
    group, env, api, instance = running
    env.driver._domain(instance["uuid"]).shutdown()  # no resync: the event alone triggers the sync
    update = cell.updates.wait_for(lambda u: u["uuid"] == instance["uuid"] and u["vm_state"] == "stopped")
    assert update["power_state"] == states.SHUTDOWN
