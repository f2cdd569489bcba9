"""The replay's approver gives a proposed record the root cause its linked complaints have (not ``undetermined``),
so its effectiveness check counts those complaints; the report says why a check with nothing before measured
nothing instead of blaming the export's end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from closeloop.services.capa import improvement as imp
from closeloop.services.replay.replay_loop import LoopModel, cause_of
from closeloop.services.replay.report import _check_note
from closeloop.services.work import lifecycle
from models.tables import EffectivenessCheck, Improvement

from .helpers import facts, intake

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def test_cause_of_takes_the_most_common_known_code():
    assert cause_of(["process_gap.handover", "system", "process_gap", "undetermined", "undetermined",
                     "undetermined"])[0] == "process_gap"
    assert cause_of(["system", "policy_rule"])[0] == "policy_rule"  # a tie: name order, the same every run
    code, note = cause_of(["undetermined"])
    assert code == "undetermined" and note


def test_a_proposed_record_is_approved_with_its_complaints_cause(sessions, config):
    ids = intake(sessions, config, T0, [facts(f"R{i}", T0 + timedelta(minutes=i)) for i in range(4)])
    for cid, cause in zip(ids, ["system", "system.outage", "policy_rule", "undetermined"], strict=True):
        lifecycle.set_root_cause(sessions, cid, config=config, root_cause=cause,
                                 note="checked" if cause == "undetermined" else None, actor="t", at=T0)
    rec = imp.create(sessions, config=config, title="Outages", owner_department="operations", actor="engine",
                     at=T0, complaint_ids=ids)
    LoopModel(1).act(sessions, config, "approve", rec.id, T0 + timedelta(days=3),
                     lambda *a: None)
    with sessions() as s:
        got = s.get_one(Improvement, rec.id)
        assert (got.status, got.root_cause) == ("in_progress", "system")
        assert "most common root cause" in (got.root_cause_detail or "")


def test_a_check_with_no_complaint_before_says_so():
    at = datetime(2015, 2, 10, tzinfo=UTC)
    check = EffectivenessCheck(improvement_id=1, at=at, attempt=0, window_days=14.0, before_count=0,
                               after_count=0, decision="not_enough_data", implemented_at=at)
    note = _check_note(check, "process_gap", False, datetime(2015, 2, 24, tzinfo=UTC), at + timedelta(days=14))
    assert note is not None and not note.startswith("not enough data: the export ends")
    assert "root cause process_gap or none yet" in note and "before the fix" in note
