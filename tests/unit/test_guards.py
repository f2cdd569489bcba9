"""The guards declared beside each edge table (issue 11): each refuses with its field when its fact is
missing and lets the transition through when met; the edge table is checked before any guard."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from closeloop.domain.complaint import COMPLAINT_MACHINE, ComplaintStatus, ComplaintTrigger
from closeloop.domain.errors import IllegalTransition, InvalidInput
from closeloop.domain.guards import Facts
from closeloop.domain.improvement import IMPROVEMENT_MACHINE, ImprovementStatus, ImprovementTrigger
from closeloop.domain.task import TASK_MACHINE, TaskStatus, TaskTrigger

AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MET = Facts(subject="it 1", reason="given", root_cause="known", kind="investigate", actions_finished=1)

# (machine, a state where the trigger is legal, trigger, the fact that breaks it, the field named, words)
CASES = [
    (TASK_MACHINE, TaskStatus.OPEN, TaskTrigger.TRANSFER, {"reason": " "}, "reason", "a transfer needs a reason"),
    (TASK_MACHINE, TaskStatus.OPEN, TaskTrigger.CANCEL, {"reason": None}, "reason", "cancelling a task needs"),
    (TASK_MACHINE, TaskStatus.IN_PROGRESS, TaskTrigger.PAUSE, {"reason": ""}, "reason", "a pause needs a reason"),
    (TASK_MACHINE, TaskStatus.OPEN, TaskTrigger.COMPLETE, {"kind": "root-cause", "root_cause": None},
     "root_cause", "it 1 asks for the root cause"),
    (COMPLAINT_MACHINE, ComplaintStatus.IN_PROGRESS, ComplaintTrigger.RESOLVE, {"root_cause": None},
     "root_cause", "it 1 has no root cause; resolving needs one"),
    (COMPLAINT_MACHINE, ComplaintStatus.CLOSED, ComplaintTrigger.REOPEN, {"reason": "\t"}, "reason",
     "a reopen needs a reason"),
    (COMPLAINT_MACHINE, ComplaintStatus.TRIAGED, ComplaintTrigger.MERGE, {"reason": None}, "reason",
     "a merge needs a reason"),
    (COMPLAINT_MACHINE, ComplaintStatus.TRIAGED, ComplaintTrigger.AWAIT_CUSTOMER, {"reason": None}, "reason",
     "a pause needs a reason"),
    (IMPROVEMENT_MACHINE, ImprovementStatus.PROPOSED, ImprovementTrigger.APPROVE, {"root_cause": None},
     "root_cause", "approve with one"),
    (IMPROVEMENT_MACHINE, ImprovementStatus.PROPOSED, ImprovementTrigger.REJECT, {"reason": ""}, "reason",
     "rejecting a record needs a reason"),
    (IMPROVEMENT_MACHINE, ImprovementStatus.IN_PROGRESS, ImprovementTrigger.IMPLEMENT, {"actions_finished": 0},
     "actions", "has no finished action"),
    (IMPROVEMENT_MACHINE, ImprovementStatus.IN_PROGRESS, ImprovementTrigger.IMPLEMENT, {"actions_open": 2},
     "actions", "still has 2 open action(s)"),
]


@pytest.mark.parametrize("machine,state,trigger,broken,field,words", CASES,
                         ids=[f"{c[0].entity}-{c[2]}-{c[4]}" for c in CASES])
def test_guard_refuses_naming_its_field_and_passes_when_met(machine, state, trigger, broken, field, words):
    assert machine.fire(state, trigger, at=AT, actor="x", facts=MET).to_state == machine.edges[(state, trigger)]
    with pytest.raises(InvalidInput) as info:
        machine.fire(state, trigger, at=AT, actor="x", facts=dataclasses.replace(MET, **broken))
    assert info.value.field == field
    assert words in str(info.value)


def test_every_declared_guard_is_covered_and_says_why():
    covered = {(c[0].entity, c[2]) for c in CASES}
    for machine in (TASK_MACHINE, COMPLAINT_MACHINE, IMPROVEMENT_MACHINE):
        for trigger, guards in machine.guards.items():
            assert (machine.entity, trigger) in covered, f"{machine.entity}.{trigger} has an untested guard"
            assert any(t == trigger for (_, t) in machine.edges), f"{machine.entity}.{trigger} has no edge"
            assert all(g.why.strip() and g.field for g in guards)


def test_the_edge_table_is_checked_before_the_guards():
    # a done task cannot be transferred: the answer is the illegal transition, not the missing reason
    with pytest.raises(IllegalTransition):
        TASK_MACHINE.fire(TaskStatus.DONE, TaskTrigger.TRANSFER, at=AT, actor="x", facts=Facts(reason=None))


def test_without_facts_only_the_reason_is_known():
    # a caller that gathers no facts cannot resolve (the root cause is unknown to the machine) ...
    with pytest.raises(InvalidInput) as info:
        COMPLAINT_MACHINE.fire(ComplaintStatus.IN_PROGRESS, ComplaintTrigger.RESOLVE, at=AT, actor="x", reason="ok")
    assert info.value.field == "root_cause"
    # ... but a reason given with the trigger counts
    rec = TASK_MACHINE.fire(TaskStatus.OPEN, TaskTrigger.CANCEL, at=AT, actor="x", reason="withdrawn")
    assert rec.to_state == TaskStatus.CANCELLED
