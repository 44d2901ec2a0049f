"""Server actions and deletes: the state table, the index task state and the route to the cell."""

from __future__ import annotations

from typing import Any

import pytest

from api.app import create_app
from cells import states
from tests.unit.api.conftest import ADMIN, MEMBER_A, MEMBER_B, PROJECT_B, READER_A, add_instance, index_row


def act(client, uuid: str, body: Any, headers: dict[str, str] | None = None):
    return client.post(f"/v2.1/servers/{uuid}/action", headers=headers or MEMBER_A, json=body)


def routed(recorders) -> tuple[Any, dict[str, Any]]:
    method, ctxt, args = recorders["cells"].next()
    assert method == "route"
    (envelope,) = args["envelopes"]
    assert (envelope["topic"], envelope["method"]) == ("cells", "instance_action")
    return ctxt, envelope


@pytest.mark.parametrize("vm_state, body, task_state, action, kwargs", [
    ("active", {"os-stop": None}, "powering-off", "stop", {}),
    ("error", {"os-stop": None}, "powering-off", "stop", {}),
    ("stopped", {"os-start": None}, "powering-on", "start", {}),
    ("active", {"reboot": {"type": "SOFT"}}, "rebooting", "reboot", {"hard": False}),
    ("active", {"reboot": {"type": "hard"}}, "rebooting_hard", "reboot", {"hard": True}),
    ("stopped", {"reboot": {"type": "HARD"}}, "rebooting_hard", "reboot", {"hard": True}),
])
def test_accepted_actions(client, db, recorders, vm_state, body, task_state, action, kwargs):
    uuid = add_instance(db, vm_state=vm_state, cell_path="top!cell2")
    response = act(client, uuid, body)
    assert response.status_code == 202, response.json
    row = index_row(db, uuid)
    assert row["task_state"] == task_state and row["version"] == 3  # versions belong to the cells
    ctxt, envelope = routed(recorders)
    assert envelope["target_path"] == "top!cell2"
    assert envelope["args"] == {"uuid": uuid, "action": action, "kwargs": kwargs}
    assert ctxt.user_id == "u-alice"


def test_every_state_table_refusal_is_409(client, db, recorders):
    for (vm_state, task_state) in [(v, t) for v in states.VM_STATES[:-1] for t in states.TASK_STATES]:
        for body, action in (({"os-stop": None}, "stop"), ({"os-start": None}, "start"),
                             ({"reboot": {"type": "SOFT"}}, "reboot")):
            try:
                states.begin_action(states.State(vm_state, task_state), action)
                continue
            except states.InvalidState:
                pass
            uuid = add_instance(db, vm_state=vm_state, task_state=task_state)
            response = act(client, uuid, body)
            assert response.status_code == 409, (vm_state, task_state, action)
            assert "conflictingRequest" in response.json
            assert index_row(db, uuid)["task_state"] == task_state
    recorders["cells"].assert_silent(0.05)


def test_action_needs_a_cell(client, db, recorders):
    uuid = add_instance(db, vm_state="error", cell_path=None, host=None)
    assert act(client, uuid, {"reboot": {"type": "HARD"}}).status_code == 409
    building = add_instance(db, vm_state="building", task_state="scheduling", cell_path=None)
    assert act(client, building, {"os-stop": None}).status_code == 409


def test_bad_action_bodies(client, db):
    uuid = add_instance(db)
    for body in ({"os-explode": None}, {}, [], {"reboot": {"type": "GENTLE"}}, {"reboot": {}},
                 {"reboot": None}, {"os-stop": {"force": True}}, {"os-stop": None, "os-start": None}):
        response = act(client, uuid, body)
        assert response.status_code == 400, body
        assert "badRequest" in response.json
    unknown = act(client, uuid, {"os-explode": None})
    assert unknown.json["badRequest"]["message"] == "There is no such action: os-explode"
    assert index_row(db, uuid)["task_state"] is None


def test_reader_and_other_projects(client, db, recorders):
    uuid = add_instance(db)
    assert act(client, uuid, {"os-stop": None}, READER_A).status_code == 403
    assert client.delete(f"/v2.1/servers/{uuid}", headers=READER_A).status_code == 403
    assert act(client, uuid, {"os-stop": None}, MEMBER_B).status_code == 404
    assert client.delete(f"/v2.1/servers/{uuid}", headers=MEMBER_B).status_code == 404
    assert index_row(db, uuid)["task_state"] is None
    recorders["cells"].assert_silent(0.05)
    theirs = add_instance(db, PROJECT_B)
    assert act(client, theirs, {"os-stop": None}, ADMIN).status_code == 202
    assert routed(recorders)[1]["args"]["uuid"] == theirs


def test_delete_of_an_unscheduled_server_happens_in_the_index(client, db, recorders):
    uuid = add_instance(db, vm_state="building", task_state="scheduling", cell_path=None, host=None,
                        version=0)
    response = client.delete(f"/v2.1/servers/{uuid}", headers=MEMBER_A)
    assert response.status_code == 204 and response.data == b""
    row = index_row(db, uuid)
    assert row["deleted"] and row["vm_state"] == "deleted" and row["deleted_at"] is not None
    assert client.get(f"/v2.1/servers/{uuid}", headers=MEMBER_A).status_code == 404
    assert client.delete(f"/v2.1/servers/{uuid}", headers=MEMBER_A).status_code == 404
    recorders["cells"].assert_silent(0.1)


def test_delete_of_a_placed_server_goes_to_its_cell(client, db, recorders):
    uuid = add_instance(db, vm_state="stopped")
    assert client.delete(f"/v2.1/servers/{uuid}", headers=MEMBER_A).status_code == 204
    assert index_row(db, uuid)["task_state"] == "deleting"
    _, envelope = routed(recorders)
    assert envelope["target_path"] == "top!cell1"
    assert envelope["args"] == {"uuid": uuid, "action": "delete", "kwargs": {}}
    again = client.delete(f"/v2.1/servers/{uuid}", headers=MEMBER_A)
    assert again.status_code == 409 and "conflictingRequest" in again.json


class BrokenCells:
    def instance_action(self, *args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker down")


def test_unroutable_action_restores_the_task_state(conf, db, verifier, images):
    app = create_app(conf, db, verifier=verifier, image_lookup=images, scheduler_api=object(),
                     cells_api=BrokenCells())
    uuid = add_instance(db)
    response = act(app.test_client(), uuid, {"os-stop": None})
    assert response.status_code == 503 and "serviceUnavailable" in response.json
    assert index_row(db, uuid)["task_state"] is None
