import pytest

from cells import states, tree
from cells.exception import InvalidState


@pytest.mark.parametrize("here, target, hop", [
    ("top", "top", None),
    ("top", "top!cell1", "top!cell1"),
    ("top", "top!site!cell3", "top!site"),
    ("top!site", "top!site!cell3", "top!site!cell3"),
    ("top!site!cell3", "top", "top!site"),
    ("top!cell1", "top!cell2", "top"),
    ("top!cell1", "top!cell10", "top"),
])
def test_next_hop(here, target, hop):
    assert tree.next_hop(here, target) == hop


def test_next_hop_outside_tree():
    with pytest.raises(ValueError):
        tree.next_hop("top", "other!cell")


def test_split_and_parent():
    assert tree.split("top!a!b") == ["top", "a", "b"]
    assert tree.parent_of("top!a") == "top"
    assert tree.parent_of("top") is None
    with pytest.raises(ValueError):
        tree.split("top!!b")


def test_every_action_in_table():
    for action, (vm_states, task_states, new_task) in states.ACTIONS.items():
        for vm in states.VM_STATES:
            for task in states.TASK_STATES:
                state = states.State(vm, task)
                if vm in vm_states and task in task_states:
                    assert states.begin_action(state, action) == states.State(vm, new_task)
                else:
                    with pytest.raises(InvalidState):
                        states.begin_action(state, action)


def test_every_event_but_a_step_leads_to_an_idle_state():
    for (vm, task, event), nxt in states.EVENTS.items():
        assert vm in states.VM_STATES and nxt.vm_state in states.VM_STATES
        if event in states.STEP_EVENTS:
            # A step keeps the vm_state and moves to another task, which has its own ending.
            assert nxt.vm_state == vm and nxt.task_state not in (None, task), (vm, event)
            assert states.apply_event(nxt, "failed").task_state is None
        else:
            assert nxt.task_state is None, (vm, event)


def test_a_snapshot_steps_through_uploading_and_keeps_the_vm_state():
    for vm in (states.ACTIVE, states.STOPPED):
        taking = states.begin_action(states.State(vm, None), "snapshot")
        assert taking == states.State(vm, states.IMAGE_SNAPSHOT)
        uploading = states.apply_event(taking, "uploading")
        assert uploading == states.State(vm, states.IMAGE_UPLOADING)
        assert states.apply_event(uploading, "snapshotted") == states.State(vm, None)
        assert states.apply_event(uploading, "failed") == states.State(vm, None)
        assert states.api_status(vm, states.IMAGE_UPLOADING) == states.api_status(vm, None)
    with pytest.raises(InvalidState, match="Cannot 'createImage' instance while it is in vm_state error"):
        states.begin_action(states.State(states.ERROR, None), "snapshot")
    with pytest.raises(InvalidState):
        states.apply_event(states.State(states.ACTIVE, states.IMAGE_SNAPSHOT), "snapshotted")


def test_each_action_has_a_completion_and_a_failure():
    for vm_states, _tasks, task in states.ACTIONS.values():
        for vm in vm_states:
            assert states.apply_event(states.State(vm, task), "failed").task_state is None
    assert states.apply_event(states.State("active", "powering-off"), "stopped").vm_state == "stopped"
    with pytest.raises(InvalidState):
        states.apply_event(states.State("stopped", None), "stopped")


def test_every_transitional_task_has_a_timeout():
    for task in states.TASK_STATES:
        if task is not None:
            assert task in states.TIMEOUT_EVENT


@pytest.mark.parametrize("vm, task, status", [
    ("building", "scheduling", "BUILD"), ("active", None, "ACTIVE"),
    ("active", "rebooting", "REBOOT"), ("active", "powering-off", "ACTIVE"),
    ("stopped", None, "SHUTOFF"), ("error", None, "ERROR"), ("deleted", None, "DELETED"),
])
def test_api_status(vm, task, status):
    assert states.api_status(vm, task) == status
