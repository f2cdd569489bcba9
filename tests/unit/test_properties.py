"""Property tests: random trigger sequences never leave the machines' state spaces or escape a terminal state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from hypothesis import given, settings
from hypothesis import strategies as st

from closeloop.domain import complaint, task
from closeloop.domain.complaint import COMPLAINT_MACHINE, ComplaintStatus, ComplaintTrigger
from closeloop.domain.dedupe import PriorComplaint, count_in_window, likely_duplicate_of
from closeloop.domain.errors import IllegalTransition
from closeloop.domain.facts import ComplaintFacts
from closeloop.domain.guards import Facts
from closeloop.domain.task import TASK_MACHINE, TaskStatus, TaskTrigger
from closeloop.domain.triage import SEVERITIES, Triage, TriagePolicy

#: facts that meet every guard, for tests of the edge tables alone (guards: tests/unit/test_guards.py)
MET = Facts(subject="it", reason="given", root_cause="known", actions_finished=1)
_COMPLAINT = partial(complaint.transition, facts=MET)
_TASK = partial(task.transition, facts=MET)

T0 = datetime(2026, 3, 2, tzinfo=UTC)
COMPLAINT_TERMINAL = {ComplaintStatus.MERGED, ComplaintStatus.REJECTED}
TASK_TERMINAL = {TaskStatus.TRANSFERRED, TaskStatus.CANCELLED}

SETTINGS = settings(max_examples=300, database=None, deadline=None)


def _walk(machine_fire, machine, start, triggers, status_enum, terminal):
    """Apply triggers in order; check the invariants at every step; return the visited states."""
    state = start
    visited = [state]
    for i, trig in enumerate(triggers):
        was_terminal = state in terminal
        allowed = machine.allowed(state)
        try:
            rec = machine_fire(state, trig, at=T0 + timedelta(minutes=i), actor="prop")
        except IllegalTransition as exc:
            assert exc.state == str(state) and exc.trigger == str(trig)
            assert str(trig) not in allowed
            assert exc.allowed == allowed
            continue
        assert not was_terminal, f"terminal state {state} accepted {trig}"
        assert str(trig) in allowed
        assert rec.from_state == str(state)
        assert rec.trigger == str(trig)
        assert rec.to_state in {s.value for s in status_enum}
        state = status_enum(rec.to_state)
        assert isinstance(state, status_enum)
        visited.append(state)
    return state, visited


@SETTINGS
@given(st.lists(st.sampled_from(list(ComplaintTrigger)), max_size=40))
def test_complaint_random_walk_stays_in_state_space(triggers):
    state, visited = _walk(_COMPLAINT, COMPLAINT_MACHINE, ComplaintStatus.RECEIVED, triggers,
                           ComplaintStatus, COMPLAINT_TERMINAL)
    assert state in set(ComplaintStatus)
    # once terminal, the walk never moved again
    for i, s in enumerate(visited):
        if s in COMPLAINT_TERMINAL:
            assert i == len(visited) - 1
    if state in COMPLAINT_TERMINAL:
        for trig in ComplaintTrigger:
            try:
                complaint.transition(state, trig, at=T0, actor="prop", facts=MET)
            except IllegalTransition:
                continue
            raise AssertionError(f"{state} accepted {trig}")


@SETTINGS
@given(st.lists(st.sampled_from(list(ComplaintTrigger)), max_size=40))
def test_complaint_rejected_only_before_work_starts(triggers):
    _, visited = _walk(_COMPLAINT, COMPLAINT_MACHINE, ComplaintStatus.RECEIVED, triggers,
                       ComplaintStatus, COMPLAINT_TERMINAL)
    if visited[-1] == ComplaintStatus.REJECTED:
        assert set(visited[:-1]) <= {ComplaintStatus.RECEIVED, ComplaintStatus.TRIAGED}


@SETTINGS
@given(st.sampled_from(list(TaskStatus)), st.lists(st.sampled_from(list(TaskTrigger)), max_size=40))
def test_task_random_walk_stays_in_state_space(start, triggers):
    state, visited = _walk(_TASK, TASK_MACHINE, start, triggers, TaskStatus, TASK_TERMINAL)
    assert state in set(TaskStatus)
    for i, s in enumerate(visited):
        if s in TASK_TERMINAL:
            assert i == len(visited) - 1
    if state in TASK_TERMINAL:
        for trig in TaskTrigger:
            try:
                task.transition(state, trig, at=T0, actor="prop", facts=MET)
            except IllegalTransition:
                continue
            raise AssertionError(f"{state} accepted {trig}")


@SETTINGS
@given(st.lists(st.sampled_from(list(TaskTrigger)), max_size=40))
def test_task_random_walk_from_open(triggers):
    state, _ = _walk(_TASK, TASK_MACHINE, TaskStatus.OPEN, triggers, TaskStatus, TASK_TERMINAL)
    assert state in set(TaskStatus)


# ------------------------------------------------------------------ dedupe properties

_offsets = st.integers(min_value=-40 * 24 * 3600, max_value=5 * 24 * 3600)
_priors = st.lists(
    st.tuples(st.integers(1, 50), st.sampled_from(["A", "B"]), _offsets, st.booleans()), max_size=12,
)


@SETTINGS
@given(_priors, st.integers(min_value=0, max_value=30))
def test_likely_duplicate_is_the_latest_eligible(rows, window_days):
    window = timedelta(days=window_days)
    earlier = [PriorComplaint(i, c, T0 + timedelta(seconds=o), m) for i, c, o, m in rows]
    got = likely_duplicate_of("A", T0, earlier, window)
    eligible = [p for p in earlier if not p.merged and p.category == "A" and T0 - window <= p.received_at <= T0]
    if not eligible:
        assert got is None
    else:
        latest = max(p.received_at for p in eligible)
        assert got in {p.id for p in eligible if p.received_at == latest}
    assert likely_duplicate_of("A", T0, list(reversed(earlier)), window) == got


@SETTINGS
@given(st.lists(_offsets, max_size=20), st.integers(min_value=0, max_value=30))
def test_count_in_window_never_counts_now_or_later(offsets, window_days):
    window = timedelta(days=window_days)
    instants = [T0 + timedelta(seconds=o) for o in offsets]
    n = count_in_window(T0, instants, window)
    assert 0 <= n <= len([t for t in instants if t < T0])
    assert n == count_in_window(T0, [t for t in instants if t < T0], window)


# ------------------------------------------------------------------ triage severity stays in P1..P4

_FLAGS = ["public_exposure", "legal_threat", "vulnerable_customer", "repeat_complainer", "compensation_demanded"]


@SETTINGS
@given(
    st.dictionaries(st.sampled_from(_FLAGS), st.integers(min_value=0, max_value=5)),
    st.sampled_from(SEVERITIES),
    st.sampled_from([None, *SEVERITIES]),
    st.booleans(), st.booleans(), st.sampled_from(["", "lawyer", "refund", "media", "律师 退款 媒体"]),
    st.integers(min_value=0, max_value=3),
)
def test_triage_severity_always_p1_to_p4_and_never_below_base(weights, default, base, tagged, social, text, earlier):
    t = Triage(TriagePolicy(default_severity=default, weights=weights))
    f = ComplaintFacts(source="p", external_ref="1", received_at=T0, text=text,
                       tags=("Older American",) if tagged else (), channel="twitter" if social else "web")
    r = t.assess(f, earlier_complaints_in_window=earlier, base_severity=base)
    assert r.severity in SEVERITIES
    start = base or default
    assert SEVERITIES.index(r.severity) <= SEVERITIES.index(start)  # flags only ever raise severity
    if not r.flags:
        assert r.severity == start
    expected_level = max(1, SEVERITIES.index(start) + 1 - sum(weights.get(fl, 0) for fl in r.flags))
    assert r.severity == f"P{expected_level}"


def test_several_thresholds_in_one_pass_equal_one_pass_each():
    """``instants_at_elapsed`` (a task's reminder thresholds in one pass) equals ``instant_at_elapsed`` per
    threshold, over a history with pauses before, between and after the thresholds, and a stopped clock."""
    from datetime import UTC, datetime, time, timedelta

    from closeloop.domain.calendar import BusinessCalendar
    from closeloop.domain.sla import TASK_RESOLVE_RULES, StatusChange, instant_at_elapsed, instants_at_elapsed

    cal = BusinessCalendar("Asia/Shanghai", {d: [(time(9), time(18))] for d in range(5)})
    start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Mon 09:00 CST
    h = lambda day, hour, st: StatusChange(datetime(2026, 3, day, hour, 0, tzinfo=UTC), st)  # noqa: E731
    opened = h(2, 1, "open")
    histories = [[opened], [opened, h(2, 3, "waiting"), h(3, 3, "open")],
                 [opened, h(2, 2, "blocked"), h(2, 4, "open"), h(4, 2, "waiting")], [opened, h(2, 5, "done")]]
    wanted = [timedelta(hours=x) for x in (20, 4, 0, 32, 6.4, 8)]
    for history in histories:
        for now in (datetime(2026, 3, 2, 2, 0, tzinfo=UTC), datetime(2026, 3, 6, 9, 0, tzinfo=UTC)):
            one_each = [instant_at_elapsed(cal, start, history, now, TASK_RESOLVE_RULES, e) for e in wanted]
            assert instants_at_elapsed(cal, start, history, now, TASK_RESOLVE_RULES, wanted) == one_each
            assert any(x is not None for x in one_each)  # the pass finds something in every case
