"""snapshot_instance on a simulated host: the image the API created gets the disk's data, or goes away.

The cell's image service here is a master (no cache in between), so the
agent's service token meets the master's rule for cell uploads directly:
a queued snapshot image of an instance of its own cell only.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid as uuid_mod
from typing import Any

import pytest
import requests

from cells import states
from compute_agent import instances, snapshot_data
from compute_agent.rpcapi import ComputeAPI
from tests.unit.compute_agent.conftest import qcow2_bytes
from tests.unit.compute_agent.test_agent_build import CTXT, build

PROJECT = "p" * 32  # the instances' project (conftest's Cell.schedule)


def snapshot_image(cell, instance: dict[str, Any], **fields: Any) -> str:
    """Create the queued image as the Compute API does for createImage; returns its id."""
    body = {"name": "snap", "disk_format": "qcow2", "container_format": "bare", "visibility": "private",
            "owner": PROJECT, "image_type": "snapshot", "instance_uuid": instance["uuid"],
            "instance_cell": cell.conf.path, "base_image_ref": instance["image_ref"], **fields}
    response = requests.post(f"{cell.conf.images.public_url}/v2/images", json=body,
                             headers={"X-Auth-Token": cell.admin_token}, timeout=10)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def image(cell, image_id: str) -> requests.Response:
    return requests.get(f"{cell.conf.images.public_url}/v2/images/{image_id}",
                        headers={"X-Auth-Token": cell.admin_token}, timeout=10)


def finished(cell, uuid: str, after: int) -> dict[str, Any]:
    """The first update of ``uuid`` newer than version ``after`` with no task left."""
    return cell.updates.wait_for(lambda u: u["uuid"] == uuid and u["version"] > after
                                 and u["task_state"] is None)


@pytest.fixture
def running(cell):
    """(group, api, instance, base image data) with one active instance on host hv1."""
    group = cell.start_agents(["hv1"])
    data = qcow2_bytes(padding=300_000)
    base = cell.upload_image(data, os_distro="debian")
    instance = build(cell, "hv1", base, vcpus=1, ram=512, disk=1)
    cell.updates.wait_for(lambda u: u["uuid"] == instance["uuid"] and u["vm_state"] == "active")
    return group, ComputeAPI(cell.conf.broker_url), instance, data


def test_snapshot_uploads_the_base_data_into_the_owners_snapshot_image(cell, running):
    group, api, instance, data = running
    uuid = instance["uuid"]
    version = cell.row(uuid)["version"]
    image_id = snapshot_image(cell, instance)
    api.snapshot_instance(CTXT, "hv1", uuid, image_id, "qcow2")
    uploading = cell.updates.wait_for(lambda u: u["uuid"] == uuid and u["task_state"] == "image_uploading")
    assert uploading["vm_state"] == "active"
    done = finished(cell, uuid, uploading["version"])
    assert (done["vm_state"], done["power_state"], done["fault"]) == ("active", states.RUNNING, None)
    shown = image(cell, image_id).json()
    assert (shown["status"], shown["owner"], shown["image_type"]) == ("active", PROJECT, "snapshot")
    # A simulated host's disk is its base image: the snapshot holds exactly the base's data.
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest() and shown["size"] == len(data)
    row = cell.row(uuid)
    assert row["task_state"] is None and row["task_deadline"] is None and row["version"] > version
    env = group.agents["hv1"].env
    assert snapshot_data.load(env, uuid) is None and os.listdir(env.paths.snapshots) == []


def test_a_stopped_instance_stays_stopped(cell, running):
    group, api, instance, data = running
    uuid = instance["uuid"]
    api.stop_instance(CTXT, "hv1", uuid)
    stopped = cell.updates.wait_for(lambda u: u["uuid"] == uuid and u["vm_state"] == "stopped")
    image_id = snapshot_image(cell, instance)
    api.snapshot_instance(CTXT, "hv1", uuid, image_id, "qcow2")
    done = finished(cell, uuid, stopped["version"] + 1)
    assert (done["vm_state"], done["power_state"]) == ("stopped", states.SHUTDOWN)
    assert image(cell, image_id).json()["status"] == "active"


def test_a_failed_snapshot_deletes_its_image_and_records_a_fault(cell, running):
    group, api, instance, data = running
    uuid = instance["uuid"]
    version = cell.row(uuid)["version"]
    # A raw snapshot of a qcow2 guest cannot come from a simulated host.
    image_id = snapshot_image(cell, instance, disk_format="raw")
    api.snapshot_instance(CTXT, "hv1", uuid, image_id, "raw")
    done = finished(cell, uuid, version)
    assert done["vm_state"] == "active" and "simulated host" in done["fault"]["message"]
    assert image(cell, image_id).status_code == 404
    assert snapshot_data.load(group.agents["hv1"].env, uuid) is None


def test_the_owners_snapshot_quota_fails_the_snapshot(cell, running):
    group, api, instance, data = running
    uuid = instance["uuid"]
    version = cell.row(uuid)["version"]
    quota = requests.put(f"{cell.conf.images.public_url}/v2/quotas/{PROJECT}",
                         json={"quota": {"snapshot_bytes": 1000}},
                         headers={"X-Auth-Token": cell.admin_token}, timeout=10)
    assert quota.status_code == 200, quota.text
    image_id = snapshot_image(cell, instance)
    api.snapshot_instance(CTXT, "hv1", uuid, image_id, "qcow2")
    done = finished(cell, uuid, version)
    assert done["vm_state"] == "active" and "quota" in done["fault"]["message"]
    assert image(cell, image_id).status_code == 404


def test_an_image_of_another_cell_is_refused_and_left_alone(cell, running):
    group, api, instance, data = running
    uuid = instance["uuid"]
    version = cell.row(uuid)["version"]
    image_id = snapshot_image(cell, instance, instance_cell="top!cell2")
    api.snapshot_instance(CTXT, "hv1", uuid, image_id, "qcow2")
    done = finished(cell, uuid, version)
    assert "not permitted" in done["fault"]["message"]
    # The agent may not delete it either: its owner may.
    assert image(cell, image_id).json()["status"] == "queued"


def test_an_image_deleted_meanwhile_ends_the_snapshot_without_a_fault(cell, running):
    group, api, instance, data = running
    uuid = instance["uuid"]
    version = cell.row(uuid)["version"]
    image_id = snapshot_image(cell, instance)
    deleted = requests.delete(f"{cell.conf.images.public_url}/v2/images/{image_id}",
                              headers={"X-Auth-Token": cell.admin_token}, timeout=10)
    assert deleted.status_code == 204
    api.snapshot_instance(CTXT, "hv1", uuid, image_id, "qcow2")
    done = finished(cell, uuid, version)
    assert (done["vm_state"], done["fault"]) == ("active", None)


def test_a_refused_state_drops_the_image_and_resends_the_row(cell, running):
    group, api, instance, data = running
    uuid = instance["uuid"]
    env = group.agents["hv1"].env
    row = cell.row(uuid)
    errored = env.db.transaction(lambda s: instances.cas(
        s, row, {"vm_state": states.ERROR}))
    assert errored is not None
    image_id = snapshot_image(cell, instance)
    api.snapshot_instance(CTXT, "hv1", uuid, image_id, "qcow2")
    resent = cell.updates.wait_for(lambda u: u["uuid"] == uuid and u["version"] > errored["version"])
    assert (resent["vm_state"], resent["task_state"]) == ("error", None)
    assert image(cell, image_id).status_code == 404


def test_a_restarted_agent_resumes_the_snapshot_it_recorded(cell, running):
    group, api, instance, data = running
    uuid = instance["uuid"]
    env = group.agents["hv1"].env
    image_id = snapshot_image(cell, instance)
    # As if the agent died just after starting the snapshot.
    snapshot_data.record(env, uuid, snapshot_data.Job(image_id, "qcow2"))
    row = cell.row(uuid)
    taken = env.db.transaction(lambda s: instances.cas(
        s, row, {"task_state": states.IMAGE_SNAPSHOT, "task_deadline": env.deadline()}))
    cell.stop_agents(group)
    cell.start_agents(["hv1"])
    done = finished(cell, uuid, taken["version"])
    assert (done["vm_state"], done["fault"]) == ("active", None)
    assert image(cell, image_id).json()["os_hash_value"] == hashlib.sha512(data).hexdigest()


def test_a_snapshot_with_no_record_left_fails_instead_of_hanging(cell, running):
    group, api, instance, data = running
    uuid = instance["uuid"]
    env = group.agents["hv1"].env
    row = cell.row(uuid)
    taken = env.db.transaction(lambda s: instances.cas(
        s, row, {"task_state": states.IMAGE_UPLOADING, "task_deadline": env.deadline()}))
    cell.stop_agents(group)
    cell.start_agents(["hv1"])
    done = finished(cell, uuid, taken["version"])
    assert done["vm_state"] == "active" and "cannot be resumed" in done["fault"]["message"]


def test_a_snapshot_for_an_instance_of_another_host_drops_the_image(cell, running):
    group, api, instance, data = running
    image_id = snapshot_image(cell, {**instance, "uuid": str(uuid_mod.uuid4())})
    api.snapshot_instance(CTXT, "hv1", str(uuid_mod.uuid4()), image_id, "qcow2")
    deadline = time.monotonic() + 10
    while image(cell, image_id).status_code != 404 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert image(cell, image_id).status_code == 404


def test_a_copy_made_before_the_snapshot_failed_is_removed(tmp_path, monkeypatch):
    # The real driver writes the copy, then resumes the guest; if resuming fails it raises with
    # the copy complete on disk. Nothing may stay in the snapshots directory.
    from types import SimpleNamespace

    from compute_agent import guests
    from compute_agent.virt.driver import HypervisorError

    class ResumeFails:
        def snapshot_disk(self, spec: Any, disk_format: str, target: str, timeout: float) -> Any:
            with open(target, "wb") as f:
                f.write(b"a whole disk")
            raise HypervisorError("guest stays paused after its snapshot")

    monkeypatch.setattr(guests, "load_spec", lambda env, uuid: object())
    env = SimpleNamespace(paths=SimpleNamespace(snapshots=str(tmp_path)), driver=ResumeFails(),
                          conf=SimpleNamespace(transition_timeout=60.0))
    job = snapshot_data.Job(str(uuid_mod.uuid4()), "qcow2")
    with pytest.raises(HypervisorError), snapshot_data.flat_image(env, "u", job):  # type: ignore[arg-type]
        pass
    assert os.listdir(tmp_path) == []


def test_a_snapshot_past_its_deadline_drops_its_image_and_record(cell, running):
    import datetime as dt

    import sqlalchemy as sa

    from cells.db.cell_models import Instance
    from cells.db.types import utcnow

    group, _api, instance, _data = running
    uuid = instance["uuid"]
    env = group.agents["hv1"].env
    image_id = snapshot_image(cell, instance)
    # As if a snapshot had started and its copy hung: the record on the host, the task past its deadline.
    snapshot_data.record(env, uuid, snapshot_data.Job(image_id, "qcow2"))
    table = Instance.__table__
    with cell.db.session() as session:
        session.execute(sa.update(table).where(table.c.uuid == uuid).values(
            task_state=states.IMAGE_UPLOADING, task_deadline=utcnow() - dt.timedelta(seconds=1)))
    assert group.resolve_deadlines() == 1
    update = cell.updates.wait_for(lambda u: u["uuid"] == uuid and u["fault"] is not None)
    assert (update["vm_state"], update["task_state"]) == ("active", None)
    assert "image_uploading did not finish before its deadline" in update["fault"]["message"]
    for _ in range(200):
        if image(cell, image_id).status_code == 404:
            break
        time.sleep(0.05)
    assert image(cell, image_id).status_code == 404
    assert snapshot_data.load(env, uuid) is None
