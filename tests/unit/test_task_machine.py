"""The department-task state machine, walked over the full cartesian product of states x triggers.

The expected graph is literal data written here, independently of ``TASK_EDGES``:
an accidental edge change in ``closeloop/domain/task.py`` fails this file.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone
from itertools import product

import pytest

from closeloop.domain import task
from closeloop.domain.errors import DomainError, IllegalTransition, InvalidInput
from closeloop.domain.guards import Facts
from closeloop.domain.machine import TransitionRecord
from closeloop.domain.task import (
    ACTIVE_STATES,
    FINISHED_STATES,
    TASK_EDGES,
    TASK_MACHINE,
    TaskStatus,
    TaskTrigger,
)

#: facts that meet every guard, for tests of the edge tables alone (guards: tests/unit/test_guards.py)
MET = Facts(subject="it", reason="given", root_cause="known", actions_finished=1)

STATES = ["open", "acknowledged", "in_progress", "blocked", "waiting", "done", "transferred", "cancelled"]
TRIGGERS = ["acknowledge", "start", "complete", "transfer", "block", "unblock", "cancel", "reopen", "pause",
            "resume", "release"]

#: (state, trigger) -> target. Everything absent from this table is illegal.
EXPECTED: dict[tuple[str, str], str] = {
    ("open", "acknowledge"): "acknowledged",
    ("open", "start"): "in_progress",
    ("open", "complete"): "done",  # quick fix without acknowledge/start (task.py docstring)
    ("open", "block"): "blocked",
    ("open", "transfer"): "transferred",
    ("open", "cancel"): "cancelled",
    ("acknowledged", "start"): "in_progress",
    ("acknowledged", "complete"): "done",
    ("acknowledged", "block"): "blocked",
    ("acknowledged", "transfer"): "transferred",
    ("acknowledged", "cancel"): "cancelled",
    ("in_progress", "complete"): "done",
    ("in_progress", "transfer"): "transferred",
    ("in_progress", "cancel"): "cancelled",
    ("blocked", "unblock"): "open",
    ("blocked", "transfer"): "transferred",
    ("blocked", "cancel"): "cancelled",
    ("done", "reopen"): "open",
    ("open", "pause"): "waiting",
    ("acknowledged", "pause"): "waiting",
    ("in_progress", "pause"): "waiting",
    ("waiting", "resume"): "in_progress",
    ("waiting", "release"): "open",  # a complaint's wait ends for a task nobody had acknowledged (waits.py)
    ("waiting", "complete"): "done",  # leaving a pause straight to done
    ("waiting", "transfer"): "transferred",
    ("waiting", "cancel"): "cancelled",
}
TERMINAL = {"transferred", "cancelled"}

ALL_PAIRS = list(product(STATES, TRIGGERS))
LEGAL = [p for p in ALL_PAIRS if p in EXPECTED]
ILLEGAL = [p for p in ALL_PAIRS if p not in EXPECTED]

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _id(pair: tuple[str, str]) -> str:
    return f"{pair[0]}--{pair[1]}"


def test_enums_are_exactly_the_expected_states_and_triggers():
    assert [s.value for s in TaskStatus] == STATES
    assert [t.value for t in TaskTrigger] == TRIGGERS


def test_cartesian_product_is_fully_partitioned():
    assert len(ALL_PAIRS) == 88  # 8 states x 11 triggers
    assert len(LEGAL) == 26
    assert len(LEGAL) + len(ILLEGAL) == len(ALL_PAIRS)


def test_edge_table_equals_the_expected_graph():
    actual = {(str(s), str(t)): str(v) for (s, t), v in TASK_EDGES.items()}
    assert actual == EXPECTED


@pytest.mark.parametrize("pair", LEGAL, ids=_id)
def test_legal_pair_reaches_expected_target(pair):
    state, trigger = pair
    s, t = TaskStatus(state), TaskTrigger(trigger)
    assert TASK_MACHINE.next_state(s, t) is TaskStatus(EXPECTED[pair])
    rec = task.transition(s, t, at=AT, actor="ops-lead", facts=MET)
    assert (rec.from_state, rec.trigger, rec.to_state) == (state, trigger, EXPECTED[pair])


@pytest.mark.parametrize("pair", ILLEGAL, ids=_id)
def test_illegal_pair_raises_naming_state_and_trigger(pair):
    state, trigger = pair
    with pytest.raises(IllegalTransition) as info:
        task.transition(TaskStatus(state), TaskTrigger(trigger), at=AT, actor="ops-lead")
    err = info.value
    assert isinstance(err, DomainError)
    assert f"'{state}'" in str(err)
    assert f"'{trigger}'" in str(err)
    assert str(err).startswith("task ")
    assert (err.entity, err.state, err.trigger) == ("task", state, trigger)
    assert err.allowed == sorted(t for (s, t) in EXPECTED if s == state)


@pytest.mark.parametrize("pair", ILLEGAL, ids=_id)
def test_illegal_pair_raises_from_next_state_too(pair):
    state, trigger = pair
    with pytest.raises(IllegalTransition):
        TASK_MACHINE.next_state(TaskStatus(state), TaskTrigger(trigger))


@pytest.mark.parametrize("state", sorted(TERMINAL))
@pytest.mark.parametrize("trigger", TRIGGERS)
def test_terminal_states_accept_nothing(state, trigger):
    with pytest.raises(IllegalTransition) as info:
        task.transition(TaskStatus(state), TaskTrigger(trigger), at=AT, actor="system")
    assert info.value.allowed == []
    assert "none (terminal state)" in str(info.value)


def test_terminal_set_is_transferred_and_cancelled():
    assert {str(s) for s in TASK_MACHINE.terminal} == TERMINAL


@pytest.mark.parametrize("state", STATES)
def test_only_terminal_states_have_no_outgoing_edges(state):
    allowed = TASK_MACHINE.allowed(TaskStatus(state))
    assert (allowed == []) == (state in TERMINAL)
    assert allowed == sorted(t for (s, t) in EXPECTED if s == state)


def test_done_only_reopens():
    assert TASK_MACHINE.allowed(TaskStatus.DONE) == ["reopen"]


def test_every_state_is_reachable_from_open():
    seen, frontier = {TaskStatus.OPEN}, [TaskStatus.OPEN]
    while frontier:
        s = frontier.pop()
        for t in TaskTrigger:
            try:
                dst = TASK_MACHINE.next_state(s, t)
            except IllegalTransition:
                continue
            if dst not in seen:
                seen.add(dst)
                frontier.append(dst)
    assert seen == set(TaskStatus)


def test_blocked_task_walk():
    path = [
        ("open", "block", "blocked"),
        ("blocked", "unblock", "open"),
        ("open", "acknowledge", "acknowledged"),
        ("acknowledged", "start", "in_progress"),
        ("in_progress", "complete", "done"),
        ("done", "reopen", "open"),
        ("open", "transfer", "transferred"),
    ]
    state = TaskStatus.OPEN
    for i, (frm, trig, to) in enumerate(path):
        assert state == frm
        rec = task.transition(state, TaskTrigger(trig), at=AT + timedelta(minutes=i), actor="dept", facts=MET)
        state = TaskStatus(rec.to_state)
        assert state == to


def test_state_sets():
    assert {str(s) for s in ACTIVE_STATES} == {"open", "acknowledged", "in_progress", "blocked", "waiting"}
    assert {str(s) for s in FINISHED_STATES} == {"done", "transferred", "cancelled"}
    assert ACTIVE_STATES.isdisjoint(FINISHED_STATES)
    assert ACTIVE_STATES | FINISHED_STATES == set(TaskStatus)


# ------------------------------------------------------------------ TransitionRecord


def test_transition_record_fields():
    at = datetime(2026, 3, 2, 4, 0, tzinfo=timezone(timedelta(hours=-5)))
    rec = task.transition(
        TaskStatus.ACKNOWLEDGED, TaskTrigger.TRANSFER, at=at, actor="ops-lead",
        reason="belongs to product", data={"to_department": "product"},
    )
    assert isinstance(rec, TransitionRecord)
    assert rec.entity == "task"
    assert rec.from_state == "acknowledged"
    assert rec.to_state == "transferred"
    assert rec.trigger == "transfer"
    assert rec.at == at and rec.at.utcoffset() == timedelta(hours=-5)
    assert rec.actor == "ops-lead"
    assert rec.reason == "belongs to product"
    assert rec.data == {"to_department": "product"}
    for value in (rec.entity, rec.from_state, rec.to_state, rec.trigger):
        assert type(value) is str


def test_transition_record_defaults_and_is_frozen():
    rec = task.transition(TaskStatus.OPEN, TaskTrigger.ACKNOWLEDGE, at=AT, actor="system")
    assert rec.reason is None
    assert rec.data == {}
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.actor = "someone else"  # type: ignore[misc]


# ------------------------------------------------------------------ input validation


@pytest.mark.parametrize(
    "bad_at",
    [datetime(2026, 3, 2, 9, 30), date(2026, 3, 2), 1_772_443_800],
    ids=["naive", "date", "epoch-int"],
)
def test_at_must_be_an_aware_datetime(bad_at):
    with pytest.raises(InvalidInput) as info:
        task.transition(TaskStatus.OPEN, TaskTrigger.START, at=bad_at, actor="system")
    assert info.value.field == "at"
    assert str(info.value).startswith("at:")


def test_empty_actor_raises():
    with pytest.raises(InvalidInput) as info:
        task.transition(TaskStatus.OPEN, TaskTrigger.START, at=AT, actor="")
    assert info.value.field == "actor"
    assert "actor" in str(info.value)


def test_an_interface_narrows_the_allowed_triggers_to_its_own_and_says_when_none_is_left():
    """The machine lists every trigger its state accepts, the engine's too (``block``, ``reopen``); an interface
    shows a person only its own, under its own names (``IllegalTransition.only``)."""
    with pytest.raises(IllegalTransition) as info:
        TASK_MACHINE.next_state(TaskStatus.OPEN, TaskTrigger.RESUME)
    machine = info.value
    assert machine.allowed == ["acknowledge", "block", "cancel", "complete", "pause", "start", "transfer"]
    shown = machine.only({"start": "tasks start", "acknowledge": "tasks ack", "reopen": "tasks reopen"},
                         noun="command")
    assert (shown.entity, shown.state, shown.trigger, shown.allowed) == ("task", "open", "resume",
                                                                          ["tasks ack", "tasks start"])
    assert str(shown) == ("task in state 'open' cannot take trigger 'resume'; "
                          "allowed commands: tasks ack, tasks start")
    assert machine.allowed[1] == "block"  # the domain's own refusal is unchanged
    with pytest.raises(IllegalTransition) as info:
        TASK_MACHINE.next_state(TaskStatus.DONE, TaskTrigger.START)
    assert info.value.allowed == ["reopen"]
    nothing = info.value.only({"start": "start", "complete": "complete"})
    assert nothing.allowed == []
    assert str(nothing) == ("task in state 'done' cannot take trigger 'start'; "
                            "no trigger you can use is allowed in this state")
