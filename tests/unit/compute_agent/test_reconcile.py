"""The resync plan: desired rows against actual domains, as a table."""

from __future__ import annotations

import pytest

from cells import states
from compute_agent import reconcile
from compute_agent.reconcile import Desired, plan

ON, OFF, CRASHED, PAUSED, NONE = states.RUNNING, states.SHUTDOWN, states.CRASHED, states.PAUSED, None

# (vm_state, task_state, recorded power, actual power or NONE for no domain, startup) -> step kind
CASES = [
    ("active", None, ON, ON, False, None),
    ("active", None, ON, NONE, False, reconcile.RESPAWN),
    ("active", None, ON, OFF, False, reconcile.MARK_STOPPED),
    ("active", None, ON, CRASHED, False, reconcile.MARK_STOPPED),
    ("active", None, ON, PAUSED, False, reconcile.UPDATE_POWER),
    ("active", None, 0, ON, False, reconcile.UPDATE_POWER),
    ("stopped", None, OFF, OFF, False, None),
    ("stopped", None, OFF, ON, False, reconcile.POWER_OFF),
    ("stopped", None, OFF, NONE, False, reconcile.RESPAWN),
    ("stopped", None, ON, OFF, False, reconcile.UPDATE_POWER),
    ("error", None, 0, ON, False, None),
    ("error", None, 0, NONE, False, None),
    ("building", "spawning", 0, NONE, False, None),
    ("building", "spawning", 0, NONE, True, None),
    ("building", "spawning", 0, ON, True, None),
    ("active", "powering-off", ON, ON, False, None),
    ("active", "powering-off", ON, ON, True, reconcile.RESUME_TASK),
    ("stopped", "powering-on", OFF, NONE, True, reconcile.RESUME_TASK),
    ("active", "rebooting", ON, ON, True, reconcile.RESUME_TASK),
    ("active", "deleting", ON, NONE, True, reconcile.RESUME_TASK),
    ("active", "deleting", ON, ON, False, None),
]


@pytest.mark.parametrize("vm_state,task_state,recorded,actual,startup,expected", CASES)
def test_one_row(vm_state, task_state, recorded, actual, startup, expected):
    domains = {} if actual is None else {"u1": actual}
    steps = plan([Desired("u1", vm_state, task_state, recorded)], domains, startup=startup)
    assert [s.kind for s in steps] == ([expected] if expected else [])
    assert all(s.uuid == "u1" and s.reason for s in steps)


def test_every_idle_state_and_power_is_planned_without_error():
    for vm_state in states.VM_STATES:
        for power in (states.NOSTATE, ON, PAUSED, OFF, CRASHED, states.SUSPENDED, None):
            domains = {} if power is None else {"u": power}
            plan([Desired("u", vm_state, None, ON)], domains)


def test_orphans_are_destroyed_only_with_a_complete_view():
    rows = [Desired("mine", "active", None, ON), Desired("gone", "deleted", None, 0)]
    domains = {"mine": ON, "gone": ON, "stray": OFF}
    steps = plan(rows, domains)
    assert {(s.uuid, s.kind) for s in steps} == {("gone", reconcile.DESTROY_ORPHAN),
                                                 ("stray", reconcile.DESTROY_ORPHAN)}
    assert plan(rows, None) == []
    assert plan(rows, None, startup=True) == []


def test_an_empty_host_needs_nothing():
    assert plan([], {}) == []
