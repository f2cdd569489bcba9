"""The complaint state machine, walked over the full cartesian product of states x triggers.

The expected graph is written out here as literal strings, independently of
``COMPLAINT_EDGES``: an accidental edge change in ``closeloop/domain/complaint.py``
(added, removed or re-targeted) fails this file.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta, timezone
from itertools import product

import pytest

from closeloop.domain import complaint
from closeloop.domain.complaint import (
    COMPLAINT_EDGES,
    COMPLAINT_MACHINE,
    MERGEABLE_STATES,
    OPEN_STATES,
    ComplaintStatus,
    ComplaintTrigger,
)
from closeloop.domain.errors import DomainError, IllegalTransition, InvalidInput
from closeloop.domain.guards import Facts
from closeloop.domain.machine import TransitionRecord

#: facts that meet every guard, for tests of the edge tables alone (guards: tests/unit/test_guards.py)
MET = Facts(subject="it", reason="given", root_cause="known", actions_finished=1)

STATES = [
    "received", "triaged", "in_progress", "awaiting_customer",
    "resolved", "closed", "reopened", "merged", "rejected",
]
TRIGGERS = [
    "triage", "start", "await_customer", "customer_replied",
    "resolve", "close", "reopen", "merge", "reject",
]

#: (state, trigger) -> target. Everything absent from this table is illegal.
EXPECTED: dict[tuple[str, str], str] = {
    ("received", "triage"): "triaged",
    ("received", "reject"): "rejected",
    ("received", "merge"): "merged",
    ("triaged", "start"): "in_progress",
    ("triaged", "await_customer"): "awaiting_customer",
    ("triaged", "resolve"): "resolved",
    ("triaged", "reject"): "rejected",
    ("triaged", "merge"): "merged",
    ("in_progress", "await_customer"): "awaiting_customer",
    ("in_progress", "resolve"): "resolved",
    ("in_progress", "merge"): "merged",
    ("awaiting_customer", "customer_replied"): "in_progress",
    ("awaiting_customer", "resolve"): "resolved",
    ("awaiting_customer", "merge"): "merged",
    ("resolved", "close"): "closed",
    ("resolved", "reopen"): "reopened",
    ("resolved", "merge"): "merged",
    ("closed", "reopen"): "reopened",
    ("closed", "merge"): "merged",
    ("reopened", "start"): "in_progress",
    ("reopened", "await_customer"): "awaiting_customer",
    ("reopened", "resolve"): "resolved",
    ("reopened", "merge"): "merged",
}
TERMINAL = {"merged", "rejected"}

ALL_PAIRS = list(product(STATES, TRIGGERS))
LEGAL = [p for p in ALL_PAIRS if p in EXPECTED]
ILLEGAL = [p for p in ALL_PAIRS if p not in EXPECTED]

AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def _id(pair: tuple[str, str]) -> str:
    return f"{pair[0]}--{pair[1]}"


def test_enums_are_exactly_the_expected_states_and_triggers():
    assert [s.value for s in ComplaintStatus] == STATES
    assert [t.value for t in ComplaintTrigger] == TRIGGERS


def test_cartesian_product_is_fully_partitioned():
    assert len(ALL_PAIRS) == 81
    assert len(LEGAL) == 23
    assert len(LEGAL) + len(ILLEGAL) == len(ALL_PAIRS)


def test_edge_table_equals_the_expected_graph():
    actual = {(str(s), str(t)): str(v) for (s, t), v in COMPLAINT_EDGES.items()}
    assert actual == EXPECTED


@pytest.mark.parametrize("pair", LEGAL, ids=_id)
def test_legal_pair_reaches_expected_target(pair):
    state, trigger = pair
    s, t = ComplaintStatus(state), ComplaintTrigger(trigger)
    assert COMPLAINT_MACHINE.next_state(s, t) is ComplaintStatus(EXPECTED[pair])
    rec = complaint.transition(s, t, at=AT, actor="agent-7", facts=MET)
    assert (rec.from_state, rec.trigger, rec.to_state) == (state, trigger, EXPECTED[pair])


@pytest.mark.parametrize("pair", ILLEGAL, ids=_id)
def test_illegal_pair_raises_naming_state_and_trigger(pair):
    state, trigger = pair
    with pytest.raises(IllegalTransition) as info:
        complaint.transition(ComplaintStatus(state), ComplaintTrigger(trigger), at=AT, actor="agent-7")
    err = info.value
    assert isinstance(err, DomainError)
    assert f"'{state}'" in str(err)
    assert f"'{trigger}'" in str(err)
    assert "complaint" in str(err)
    assert (err.entity, err.state, err.trigger) == ("complaint", state, trigger)
    assert err.allowed == sorted(t for (s, t) in EXPECTED if s == state)


@pytest.mark.parametrize("pair", ILLEGAL, ids=_id)
def test_illegal_pair_raises_from_next_state_too(pair):
    state, trigger = pair
    with pytest.raises(IllegalTransition):
        COMPLAINT_MACHINE.next_state(ComplaintStatus(state), ComplaintTrigger(trigger))


@pytest.mark.parametrize("state", sorted(TERMINAL))
@pytest.mark.parametrize("trigger", TRIGGERS)
def test_terminal_states_accept_nothing(state, trigger):
    with pytest.raises(IllegalTransition) as info:
        complaint.transition(ComplaintStatus(state), ComplaintTrigger(trigger), at=AT, actor="system")
    assert info.value.allowed == []
    assert "none (terminal state)" in str(info.value)


def test_terminal_set_is_merged_and_rejected():
    assert {str(s) for s in COMPLAINT_MACHINE.terminal} == TERMINAL


@pytest.mark.parametrize("state", STATES)
def test_only_terminal_states_have_no_outgoing_edges(state):
    allowed = COMPLAINT_MACHINE.allowed(ComplaintStatus(state))
    assert (allowed == []) == (state in TERMINAL)
    assert allowed == sorted(t for (s, t) in EXPECTED if s == state)


def test_closed_is_not_terminal_customer_may_reopen():
    rec = complaint.transition(ComplaintStatus.CLOSED, ComplaintTrigger.REOPEN, at=AT, actor="customer",
                               reason="came back")
    assert rec.to_state == "reopened"


def test_every_state_is_reachable_from_received():
    seen, frontier = {"received"}, ["received"]
    while frontier:
        s = frontier.pop()
        for (src, _t), dst in EXPECTED.items():
            if src == s and dst not in seen:
                seen.add(dst)
                frontier.append(dst)
    assert seen == set(STATES)
    # and the machine agrees, walking the real edges
    seen_real, frontier = {ComplaintStatus.RECEIVED}, [ComplaintStatus.RECEIVED]
    while frontier:
        s = frontier.pop()
        for t in ComplaintTrigger:
            try:
                dst = COMPLAINT_MACHINE.next_state(s, t)
            except IllegalTransition:
                continue
            if dst not in seen_real:
                seen_real.add(dst)
                frontier.append(dst)
    assert seen_real == set(ComplaintStatus)


def test_happy_path_walk():
    path = [
        ("received", "triage", "triaged"),
        ("triaged", "start", "in_progress"),
        ("in_progress", "await_customer", "awaiting_customer"),
        ("awaiting_customer", "customer_replied", "in_progress"),
        ("in_progress", "resolve", "resolved"),
        ("resolved", "close", "closed"),
        ("closed", "reopen", "reopened"),
        ("reopened", "start", "in_progress"),
        ("in_progress", "merge", "merged"),
    ]
    state = ComplaintStatus.RECEIVED
    for i, (frm, trig, to) in enumerate(path):
        assert state == frm
        rec = complaint.transition(state, ComplaintTrigger(trig), at=AT + timedelta(hours=i), actor="agent",
                                   facts=MET)
        state = ComplaintStatus(rec.to_state)
        assert state == to


def test_state_sets():
    assert {str(s) for s in OPEN_STATES} == {"received", "triaged", "in_progress", "awaiting_customer", "reopened"}
    assert {str(s) for s in MERGEABLE_STATES} == set(STATES) - TERMINAL


def test_plain_string_state_and_trigger_are_accepted():
    # StrEnum members hash and compare like their values: an API passing strings works.
    rec = complaint.transition("received", "triage", at=AT, actor="api")  # type: ignore[arg-type]
    assert rec.to_state == "triaged"


# ------------------------------------------------------------------ TransitionRecord


def test_transition_record_fields():
    data = {"merged_into": 42}
    at = datetime(2026, 3, 2, 17, 0, tzinfo=timezone(timedelta(hours=8)))
    rec = complaint.transition(
        ComplaintStatus.IN_PROGRESS, ComplaintTrigger.MERGE, at=at, actor="agent-3",
        reason="duplicate of #42", data=data,
    )
    assert isinstance(rec, TransitionRecord)
    assert rec.entity == "complaint"
    assert rec.from_state == "in_progress"
    assert rec.to_state == "merged"
    assert rec.trigger == "merge"
    assert rec.at == at and rec.at.utcoffset() == timedelta(hours=8)
    assert rec.actor == "agent-3"
    assert rec.reason == "duplicate of #42"
    assert rec.data == {"merged_into": 42}
    # plain strings, ready for the audit table
    for value in (rec.entity, rec.from_state, rec.to_state, rec.trigger):
        assert type(value) is str


def test_transition_record_defaults_and_data_is_copied():
    rec = complaint.transition(ComplaintStatus.RECEIVED, ComplaintTrigger.TRIAGE, at=AT, actor="system")
    assert rec.reason is None
    assert rec.data == {}
    data = {"k": 1}
    rec2 = complaint.transition(ComplaintStatus.RECEIVED, ComplaintTrigger.TRIAGE, at=AT, actor="system", data=data)
    data["k"] = 2
    assert rec2.data == {"k": 1}


def test_transition_record_is_frozen():
    rec = complaint.transition(ComplaintStatus.RECEIVED, ComplaintTrigger.TRIAGE, at=AT, actor="system")
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.to_state = "closed"  # type: ignore[misc]


# ------------------------------------------------------------------ input validation


@pytest.mark.parametrize(
    "bad_at",
    [datetime(2026, 3, 2, 9, 30), date(2026, 3, 2), "2026-03-02T09:30:00+00:00"],
    ids=["naive", "date", "string"],
)
def test_at_must_be_an_aware_datetime(bad_at):
    with pytest.raises(InvalidInput) as info:
        complaint.transition(ComplaintStatus.RECEIVED, ComplaintTrigger.TRIAGE, at=bad_at, actor="system")
    assert info.value.field == "at"
    assert str(info.value).startswith("at:")


def test_empty_actor_raises():
    with pytest.raises(InvalidInput) as info:
        complaint.transition(ComplaintStatus.RECEIVED, ComplaintTrigger.TRIAGE, at=AT, actor="")
    assert info.value.field == "actor"
    assert "actor" in str(info.value)
