"""Improvement records (CAPA): every lifecycle edge, root causes, and the effectiveness rule at its edges."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import product

import pytest

from closeloop.domain.errors import IllegalTransition, InvalidInput
from closeloop.domain.guards import Facts
from closeloop.domain.improvement import (
    IMPROVEMENT_EDGES,
    EffectivenessRule,
    ImprovementStatus,
    ImprovementTrigger,
    check_root_cause,
    evaluate_effectiveness,
    transition,
)

#: facts that meet every guard, for tests of the edge tables alone (guards: tests/unit/test_guards.py)
MET = Facts(subject="it", reason="given", root_cause="known", actions_finished=1)

AT = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)

EXPECTED = {
    ("proposed", "approve"): "approved",
    ("proposed", "reject"): "rejected",
    ("approved", "reject"): "rejected",
    ("approved", "start"): "in_progress",
    ("in_progress", "implement"): "implemented",
    ("implemented", "begin_verification"): "verifying",
    ("verifying", "confirm_effective"): "effective",
    ("verifying", "confirm_ineffective"): "ineffective",
    ("ineffective", "rework"): "in_progress",
}
PAIRS = list(product([s.value for s in ImprovementStatus], [t.value for t in ImprovementTrigger]))


def test_edge_table_is_the_expected_graph():
    assert {(str(s), str(t)): str(v) for (s, t), v in IMPROVEMENT_EDGES.items()} == EXPECTED


@pytest.mark.parametrize("state,trigger", PAIRS)
def test_every_pair_is_legal_or_names_state_and_trigger(state, trigger):
    if (state, trigger) in EXPECTED:
        rec = transition(ImprovementStatus(state), ImprovementTrigger(trigger), at=AT, actor="qa", facts=MET)
        assert (rec.entity, rec.from_state, rec.to_state) == ("improvement", state, EXPECTED[(state, trigger)])
    else:
        with pytest.raises(IllegalTransition) as exc:
            transition(ImprovementStatus(state), ImprovementTrigger(trigger), at=AT, actor="qa")
        assert f"'{state}'" in str(exc.value) and f"'{trigger}'" in str(exc.value)


def test_root_causes():
    assert check_root_cause("product_defect.battery", None) == "product_defect.battery"
    with pytest.raises(InvalidInput, match="unknown root cause 'bad_luck'"):
        check_root_cause("bad_luck", None)
    with pytest.raises(InvalidInput, match="note"):
        check_root_cause("undetermined", " ")
    assert check_root_cause("undetermined", "logs checked, nothing found") == "undetermined"


@pytest.mark.parametrize("before,after,decision", [
    (10, 7, "effective"),      # exactly 30% lower: the threshold counts as met
    (10, 8, "ineffective"),    # 20% lower
    (10, 12, "ineffective"),   # more complaints after the fix
    (10, 0, "effective"),
    (5, 0, "effective"),       # exactly the minimum before-count
    (4, 0, "not_enough_data"), # one short of it
    (0, 3, "not_enough_data"),
])
def test_effectiveness_rule_at_its_boundaries(before, after, decision):
    result = evaluate_effectiveness(before, after, 42, 42, EffectivenessRule(min_reduction=0.3, min_before=5))
    assert result.decision == decision
    assert (result.before, result.after) == (before, after)


def test_rates_not_counts_are_compared_when_windows_differ():
    # 10 in 42 days before, 6 in 21 days after: the rate fell only from 0.238 to 0.286 a day -> worse
    assert evaluate_effectiveness(10, 6, 42, 21).decision == "ineffective"
    assert evaluate_effectiveness(10, 3, 42, 21).reduction == pytest.approx(1 - (3 / 21) / (10 / 42))


def test_bad_effectiveness_input_is_refused():
    with pytest.raises(InvalidInput, match="window"):
        evaluate_effectiveness(5, 1, 0, 42)
    with pytest.raises(InvalidInput, match="negative"):
        evaluate_effectiveness(-1, 1, 42, 42)
    with pytest.raises(InvalidInput, match="min_reduction"):
        EffectivenessRule(min_reduction=0)
