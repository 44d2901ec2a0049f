"""`cloudctl server image create`: the createImage action, then (with --wait) the image until it settles."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.cloudctl.fakecloud import FakeCloud, Response, _error, _now
from tests.unit.cloudctl.test_shell import run


class SnapshotCloud(FakeCloud):
    """The fake cloud with createImage: the image moves one status per GET, as ``outcome`` says."""

    def __init__(self) -> None:
        super().__init__()
        self.outcome = "active"  # or "deleted" (a failed snapshot), "killed"
        self.body_too = True  # False: answer like Nova before microversion 2.45 (Location only)
        self.image_plans: dict[str, list[str]] = {}
        self.actions: list[dict[str, Any]] = []

    def server_action(self, query: dict[str, list[str]], body: bytes, server_id: str) -> Response:
        action = json.loads(body)
        if "createImage" not in action:
            return FakeCloud.server_action(self, query, body, server_id)
        if server_id not in self.servers:
            return _error(404, "itemNotFound", f"Instance {server_id} could not be found.")
        self.actions.append(action)
        args = action["createImage"]
        image_id = str(uuid.uuid4())
        self.images[image_id] = {**args.get("metadata", {}), "id": image_id, "name": args["name"],
                                 "status": "queued", "disk_format": "qcow2", "container_format": "bare",
                                 "visibility": "private", "owner": "p1", "image_type": "snapshot",
                                 "created_at": _now(), "updated_at": _now()}
        self.image_plans[image_id] = ["queued", "saving", self.outcome]
        if self.outcome != "active":
            self.servers[server_id]["fault"] = {"code": 400, "message": "the snapshot storage quota "
                                                "would be exceeded"}
        location = {"Location": f"{self.base}/image/v2/images/{image_id}"}
        return 202, {"image_id": image_id} if self.body_too else None, location

    def show_image(self, query: dict[str, list[str]], body: bytes, image_id: str) -> Response:
        plan = self.image_plans.get(image_id)
        if plan:
            status = plan.pop(0)
            if status == "deleted":
                del self.images[image_id]
            else:
                self.images[image_id]["status"] = status
        return FakeCloud.show_image(self, query, body, image_id)

    ROUTES = [(r"/compute/v2\.1/servers/([^/]+)/action", "POST", server_action),
              (r"/image/v2/images/([^/]+)", "GET", show_image), *FakeCloud.ROUTES]


@pytest.fixture
def fake_cloud(_fake_server) -> Iterator[SnapshotCloud]:
    slot, base = _fake_server
    slot.app = SnapshotCloud()
    slot.app.base = base
    yield slot.app
    slot.app = None


@pytest.fixture
def cloud(fake_cloud, clouds_yaml) -> SnapshotCloud:
    fake_cloud.add_server("vm1")
    return fake_cloud


def test_image_create_wait_shows_progress_and_the_active_image(capsys, cloud):
    code, out, err = run(capsys, "--os-cloud", "fake", "server", "image", "create", "vm1", "--name", "snap1",
                         "--property", "purpose=backup", "--wait", "-f", "json")
    assert code == 0, err
    shown = json.loads(out)
    assert (shown["name"], shown["status"]) == ("snap1", "active")
    assert shown["properties"]["purpose"] == "backup" and shown["properties"]["image_type"] == "snapshot"
    assert cloud.actions == [{"createImage": {"name": "snap1", "metadata": {"purpose": "backup"}}}]
    assert err.splitlines()[-1].startswith("snap1: queued ... saving ... active (")


def test_without_wait_the_queued_image_is_shown_and_the_name_is_the_servers(capsys, cloud):
    cloud.body_too = False  # the id comes from the Location header
    code, out, err = run(capsys, "--os-cloud", "fake", "server", "image", "create", "vm1", "-f", "json")
    assert code == 0, err
    shown = json.loads(out)
    assert (shown["name"], shown["status"]) == ("vm1", "queued")
    assert cloud.actions == [{"createImage": {"name": "vm1"}}]


def test_a_failed_snapshot_exits_1_with_the_servers_fault(capsys, cloud):
    cloud.outcome = "deleted"
    code, out, err = run(capsys, "--os-cloud", "fake", "server", "image", "create", "vm1", "--wait")
    assert code == 1
    assert "snapshot vm1 of server vm1 failed: the snapshot storage quota would be exceeded" in err


def test_a_killed_image_exits_1(capsys, cloud):
    cloud.outcome = "killed"
    code, out, err = run(capsys, "--os-cloud", "fake", "server", "image", "create", "vm1", "--wait",
                         "-f", "json")
    assert code == 1 and json.loads(out)["status"] == "killed"


def test_unknown_server_is_an_error(capsys, cloud):
    code, out, err = run(capsys, "--os-cloud", "fake", "server", "image", "create", "nope", "--wait")
    assert code == 1 and "nope" in err and cloud.actions == []
