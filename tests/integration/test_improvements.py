"""Improvement records (issue 5 items 2-5): lifecycle with audit, actions on the task engine, the
effectiveness check in the sweep, recurrence detection at intake, customers told through the outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from closeloop.config import parse_config
from closeloop.domain.errors import Conflict, IllegalTransition, InvalidInput
from closeloop.services.capa import improvement as imp
from closeloop.services.capa.effectiveness import matching_count
from closeloop.services.engine.sweep import sweep
from closeloop.services.work import tasks as task_svc
from models.tables import (
    EffectivenessCheck,
    Improvement,
    ImprovementLink,
    Notification,
    Outbox,
    Task,
    Timer,
    Transition,
)

from .helpers import facts, intake

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


def _cfg(**improvement) -> object:
    text = open("closeloop/config/default.toml", encoding="utf-8").read()
    lines = "\n".join(f"{k} = {str(v).lower() if isinstance(v, bool) else v}" for k, v in improvement.items())
    return parse_config(text + "\n[improvement]\n" + lines + "\n")


def _take(sessions, config, prefix, n, start, step=timedelta(hours=6), **kw):
    kw.setdefault("category", "billing")
    return intake(sessions, config, start + n * step,
                  [facts(f"{prefix}{i}", start + i * step, **kw) for i in range(n)])


def _implemented(sessions, config, at, cids):
    rec = imp.create(sessions, config=config, title="Fee charged twice", owner_department="operations",
                     complaint_ids=cids, actor="ops-manager", at=at)
    imp.fire(sessions, rec.id, "approve", config=config, root_cause="system.billing", actor="ops-manager", at=at)
    imp.fire(sessions, rec.id, "start", config=config, actor="ops-lead", at=at)
    task = imp.add_action(sessions, rec.id, config=config, kind="corrective", department="operations",
                          title="Fix the double-charge job", actor="ops-lead", at=at, business_days=2)
    task_svc.complete(sessions, task.id, config=config, actor="ops-1", at=at + timedelta(hours=1))
    return imp.fire(sessions, rec.id, "implement", config=config, actor="ops-lead", at=at + timedelta(hours=2))


def test_lifecycle_rules_and_every_transition_audited_with_its_actor(sessions):
    config = _cfg(cluster_size=1000)
    (cid,) = _take(sessions, config, "L", 1, T0)
    rec = imp.create(sessions, config=config, title="Fee charged twice", owner_department="operations",
                     complaint_ids=[cid], actor="ops-manager", at=T0)
    assert rec.status == "proposed" and rec.match == {"category": "billing", "product": ""}
    with pytest.raises(InvalidInput, match="root_cause"):
        imp.fire(sessions, rec.id, "approve", config=config, actor="m", at=T0)
    with pytest.raises(IllegalTransition, match="'proposed'.*implement"):
        imp.fire(sessions, rec.id, "implement", config=config, actor="m", at=T0)
    with pytest.raises(InvalidInput, match="kind"):
        imp.add_action(sessions, rec.id, config=config, kind="cosmetic", department="operations", title="x",
                       actor="m", at=T0)
    with pytest.raises(InvalidInput, match="improvement"):  # no actions before approval
        imp.add_action(sessions, rec.id, config=config, kind="corrective", department="operations", title="x",
                       actor="m", at=T0)
    imp.fire(sessions, rec.id, "approve", config=config, root_cause="system", actor="m", at=T0)
    with pytest.raises(Conflict):
        imp.fire(sessions, rec.id, "start", config=config, actor="m", at=T0, expected_version=1)
    imp.fire(sessions, rec.id, "start", config=config, actor="lead", at=T0)
    with pytest.raises(InvalidInput, match="actions"):
        imp.fire(sessions, rec.id, "implement", config=config, actor="lead", at=T0)
    with pytest.raises(IllegalTransition, match="in_progress"):
        imp.fire(sessions, rec.id, "reject", config=config, reason="no", actor="m", at=T0)
    with pytest.raises(InvalidInput, match="trigger"):
        imp.fire(sessions, rec.id, "teleport", config=config, actor="m", at=T0)
    with sessions() as s:
        rows = s.execute(select(Transition.trigger, Transition.to_state, Transition.actor, Transition.complaint_id)
                         .where(Transition.entity == "improvement", Transition.entity_id == rec.id)
                         .order_by(Transition.id)).all()
    assert rows == [("create", "proposed", "ops-manager", None), ("approve", "approved", "m", None),
                    ("start", "in_progress", "lead", None)]
    other = imp.create(sessions, config=config, title="Not worth it", owner_department="service",
                       match={"category": "billing"}, actor="m", at=T0)
    with pytest.raises(InvalidInput, match="reason"):
        imp.fire(sessions, other.id, "reject", config=config, actor="m", at=T0)
    assert imp.fire(sessions, other.id, "reject", config=config, reason="duplicate of 1", actor="m",
                    at=T0).status == "rejected"


def test_actions_are_department_tasks_with_due_dates_reminders_and_escalation(sessions):
    config = _cfg(cluster_size=1000)
    (cid,) = _take(sessions, config, "A", 1, T0)
    rec = imp.create(sessions, config=config, title="t", owner_department="operations", complaint_ids=[cid],
                     actor="m", at=T0)
    imp.fire(sessions, rec.id, "approve", config=config, root_cause="process_gap", actor="m", at=T0)
    task = imp.add_action(sessions, rec.id, config=config, kind="preventive", department="product",
                          title="Add a duplicate-charge check", actor="m", at=T0, business_days=2)
    assert task.complaint_id is None and task.improvement_id == rec.id and task.due_at > T0
    sweep(sessions, config, T0)
    with sessions() as s:
        keys = set(s.scalars(select(Timer.key).where(Timer.improvement_id == rec.id, Timer.status == "pending")))
    assert f"reminder:{task.id}:50" in keys and f"escalation:{task.id}:1" in keys
    late = task.due_at + timedelta(days=7)
    sweep(sessions, config, late)
    sweep(sessions, config, late + timedelta(days=1))  # released in the recipients' working hours
    with sessions() as s:
        notes = s.scalars(select(Notification).where(Notification.task_id == task.id)).all()
        assert {n.kind for n in notes} >= {"reminder", "escalation"}
        assert all(n.complaint_id is None and n.improvement_id == rec.id for n in notes)
        packed = s.scalars(select(Outbox)).all()
        assert any(f"improvement #{rec.id}" in o.body for o in packed)
    task_svc.complete(sessions, task.id, config=config, actor="p", at=late)
    sweep(sessions, config, late + timedelta(minutes=5))
    with sessions() as s:
        assert not s.scalars(select(Timer).where(Timer.task_id == task.id, Timer.status == "pending")).all()


def _check(sessions, config, before_n, after_n):
    start = T0 - timedelta(weeks=6)
    cids = _take(sessions, config, "B", before_n, start + timedelta(days=1), step=timedelta(days=5))
    impl_at = T0
    rec = _implemented(sessions, config, impl_at, cids[:1] or [])
    assert rec.check_due_at == impl_at + timedelta(hours=2) + timedelta(weeks=6)
    after = _take(sessions, config, "X", after_n, impl_at + timedelta(days=3), step=timedelta(days=5))
    sweep(sessions, config, impl_at + timedelta(weeks=1))
    with sessions() as s:
        assert s.get(Improvement, rec.id).status == "implemented"  # not yet due
        if after:
            assert s.get(ImprovementLink, (rec.id, after[0])).source == "recurrence"
    sweep(sessions, config, rec.check_due_at + timedelta(minutes=1))
    return rec


def test_effective_fix_is_verified_and_stamped(sessions):
    """(Customers are told by the ``improved`` milestone: tests/integration/test_improvement_notices.py.)"""
    config = _cfg(cluster_size=1000)
    rec = _check(sessions, config, before_n=8, after_n=2)
    with sessions() as s:
        r = s.get(Improvement, rec.id)
        check = s.scalars(select(EffectivenessCheck).where(EffectivenessCheck.improvement_id == rec.id)).one()
        assert (check.before_count, check.after_count, check.decision) == (8, 2, "effective")
        assert r.status == "effective" and r.verified_at is not None
        linked = s.scalars(select(ImprovementLink.complaint_id).where(ImprovementLink.improvement_id == rec.id)).all()
        assert len(linked) == 3  # the manual link and two recurrences
    # a recently verified record still collects recurrences (evidence the fix holds, or not)
    (again,) = _take(sessions, config, "Z", 1, rec.check_due_at + timedelta(days=2))
    with sessions() as s:
        assert s.get(ImprovementLink, (rec.id, again)).source == "recurrence"


def test_ineffective_fix_returns_to_in_progress_and_tells_the_owner(sessions):
    config = _cfg(cluster_size=1000)
    rec = _check(sessions, config, before_n=8, after_n=8)
    with sessions() as s:
        r = s.get(Improvement, rec.id)
        assert r.status == "in_progress"
        check = s.scalars(select(EffectivenessCheck).where(EffectivenessCheck.improvement_id == rec.id)).one()
        assert (check.before_count, check.after_count, check.decision) == (8, 8, "ineffective")
        trail = s.scalars(select(Transition.to_state).where(Transition.entity == "improvement",
                                                            Transition.entity_id == rec.id)
                          .order_by(Transition.id)).all()
        assert trail[-3:] == ["verifying", "ineffective", "in_progress"]
        note = s.scalars(select(Notification).where(Notification.kind == "improvement_ineffective")).one()
        assert note.role == "lead" and note.department == "operations" and note.improvement_id == rec.id


def test_not_enough_data_reschedules_once_then_asks_the_owner(sessions):
    config = _cfg(cluster_size=1000)
    rec = _check(sessions, config, before_n=2, after_n=0)
    with sessions() as s:
        r = s.get(Improvement, rec.id)
        assert (r.status, r.check_attempts) == ("verifying", 1)
        assert r.check_due_at == r.implemented_at + timedelta(weeks=12)
    sweep(sessions, config, r.check_due_at + timedelta(minutes=1))
    with sessions() as s:
        checks = s.scalars(select(EffectivenessCheck.decision).where(EffectivenessCheck.improvement_id == rec.id)
                           .order_by(EffectivenessCheck.id)).all()
        assert checks == ["not_enough_data", "not_enough_data"]
        assert s.get(Improvement, rec.id).status == "verifying"
        assert s.scalars(select(Notification).where(Notification.kind == "improvement_check")).one()


def test_recurrence_links_to_open_records_and_proposes_for_clusters(sessions):
    config = _cfg(cluster_size=3, cluster_days=7)
    first = _take(sessions, config, "C", 2, T0)
    with sessions() as s:
        assert s.scalars(select(Improvement)).all() == []  # two are not a cluster
    _take(sessions, config, "D", 1, T0 + timedelta(days=1))
    _take(sessions, config, "E", 1, T0 + timedelta(days=1), category="fees")  # another category
    with sessions() as s:
        rec = s.scalars(select(Improvement)).one()
        assert (rec.status, rec.created_by, rec.match) == ("proposed", "system", {"category": "billing", "product": ""})
        links = s.scalars(select(ImprovementLink).where(ImprovementLink.improvement_id == rec.id)).all()
        assert len(links) == 3 and {lk.source for lk in links} == {"cluster"} and first[0] in {
            lk.complaint_id for lk in links}
        note = s.scalars(select(Notification).where(Notification.kind == "improvement_proposed")).one()
        assert note.role == "operations_manager" and note.improvement_id == rec.id
    (late,) = _take(sessions, config, "F", 1, T0 + timedelta(days=40))  # far later: still linked to the open record
    with sessions() as s:
        assert s.get(ImprovementLink, (rec.id, late)).linked_by == "system"
        assert len(s.scalars(select(Improvement)).all()) == 1


def test_a_batch_proposes_on_its_cluster_and_links_its_later_complaints_as_recurrences(sessions):
    """An import of history in one batch: 3 complaints in a week (the cluster), then 4 a month apart.
    Every one of the later ones had been linked as ``cluster`` (the record's problem said 3 complaints
    within 7 days, its links said 7), so the review's recurrence figures missed what a feed of the same
    complaints one by one counts as recurrences."""
    config = _cfg(cluster_size=3, cluster_days=7)
    ids = intake(sessions, config, T0 + timedelta(days=200),
                 [facts(f"H{i}", T0 + timedelta(days=i), category="billing") for i in range(3)]
                 + [facts(f"H{i}", T0 + timedelta(days=30 * (i - 2)), category="billing") for i in range(3, 7)])
    with sessions() as s:
        rec = s.scalars(select(Improvement)).one()
        links = {lk.complaint_id: lk.source for lk in s.scalars(
            select(ImprovementLink).where(ImprovementLink.improvement_id == rec.id))}
        note = s.scalars(select(Notification).where(Notification.kind == "improvement_proposed")).one()
    assert links == {**dict.fromkeys(ids[:3], "cluster"), **dict.fromkeys(ids[3:], "recurrence")}
    assert rec.problem.startswith("3 complaints with category 'billing' within 7 days")
    assert note.data["params"]["count"] == 7  # the notice counts every complaint the record links

def test_manual_links_and_show(sessions):
    config = _cfg(cluster_size=1000)
    a, b = _take(sessions, config, "M", 2, T0)
    rec = imp.create(sessions, config=config, title="t", owner_department="service", complaint_ids=[a],
                     actor="m", at=T0)
    assert imp.link(sessions, rec.id, [a, b], actor="agent", at=T0) == 1
    view = imp.show(sessions, rec.id)
    assert [(lk.complaint_id, lk.source, lk.linked_by) for lk, _ in view.links] == [(a, "manual", "m"),
                                                                                     (b, "manual", "agent")]
    with sessions() as s:
        assert s.scalars(select(Task).where(Task.improvement_id == rec.id)).all() == []


def test_customer_verdict_is_kept_apart_from_the_effectiveness_check(sessions):
    from closeloop.services.work import lifecycle

    config = _cfg(cluster_size=1000)
    (cid,) = _take(sessions, config, "V", 1, T0)
    rec = imp.create(sessions, config=config, title="t", owner_department="service", complaint_ids=[cid],
                     actor="m", at=T0)
    lifecycle.resolve(sessions, cid, config=config, reason="answered", root_cause="information", actor="a",
                      at=T0 + timedelta(days=1))
    sweep(sessions, config, T0 + timedelta(days=1))
    sweep(sessions, config, T0 + timedelta(days=10))  # the follow-up task is created
    with sessions() as s:
        fu = s.scalars(select(Task).where(Task.complaint_id == cid, Task.kind == "follow-up")).one()
    lifecycle.record_follow_up(sessions, fu.id, config=config, satisfied=False, note="still charged", actor="svc",
                               at=T0 + timedelta(days=10))
    (link, complaint), = imp.show(sessions, rec.id).links
    assert complaint.customer_satisfied is False and complaint.status == "reopened"
    assert imp.show(sessions, rec.id).checks == [] and link.source == "manual"


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_recurrence_costs_the_same_statements_for_a_small_and_a_large_batch(engine, sessions):
    from sqlalchemy import event

    config = _cfg(cluster_size=5, cluster_days=30)
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    costs = []
    _take(sessions, config, "W", 1, T0 - timedelta(days=90), category="warm-up")  # departments synced once
    event.listen(engine, "before_cursor_execute", count)
    try:
        for prefix, n, start in (("S", 20, T0), ("L", 200, T0 + timedelta(days=90))):
            seen.clear()
            _take(sessions, config, prefix, n, start, step=timedelta(minutes=5), category=f"cat-{prefix}")
            costs.append(len(seen))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert costs[0] == costs[1]  # one proposal each; nothing per row
    with sessions() as s:
        assert len(s.scalars(select(Improvement)).all()) == 2


def test_create_refuses_a_match_fact_that_is_not_a_complaint_fact(sessions):
    """A fact outside the complaint facts was stored and broke every later intake (``KeyError: 'bogus'``)."""
    config = _cfg(cluster_size=1000)
    _take(sessions, config, "W", 1, T0 - timedelta(days=1), category="warm-up")  # departments synced
    for match in ({"bogus": "1"}, {"category": "billing", "id": "1"}, {"category": "billing", "status": "x"}):
        with pytest.raises(InvalidInput) as err:
            imp.create(sessions, config=config, title="t", owner_department="operations", match=match,
                       actor="m", at=T0)
        assert err.value.field == "match" and "allowed facts: category, subcategory, product" in str(err.value)
    with pytest.raises(InvalidInput, match="match.*text"):
        imp.create(sessions, config=config, title="t", owner_department="operations", match={"category": 1},
                   actor="m", at=T0)
    with sessions() as s:
        assert s.scalars(select(Improvement)).all() == []


def _store_bad_match(sessions, rec_id, match):
    """As a record stored before ``create`` checked its facts."""
    from sqlalchemy import update
    with sessions.begin() as s:
        s.execute(update(Improvement).where(Improvement.id == rec_id).values(match=match))


def test_a_stored_record_with_an_unknown_fact_never_fails_intake_or_the_check(sessions, caplog):
    config = _cfg(cluster_size=2, cluster_days=7, recent_verified_days=90)
    _take(sessions, config, "W", 1, T0 - timedelta(days=1), category="warm-up")  # departments synced
    rejected = imp.create(sessions, config=config, title="typo", owner_department="operations",
                          match={"category": "billing"}, actor="m", at=T0)
    imp.fire(sessions, rejected.id, "reject", config=config, reason="typo", actor="m", at=T0)
    _store_bad_match(sessions, rejected.id, {"bogus": "1"})
    open_one = imp.create(sessions, config=config, title="open", owner_department="operations",
                          match={"category": "fees"}, actor="m", at=T0)
    _store_bad_match(sessions, open_one.id, {"category": "fees", "bogus": "1"})
    with caplog.at_level("WARNING", logger="closeloop.capa"):
        ids = _take(sessions, config, "K", 2, T0 + timedelta(hours=1))  # a cluster of billing complaints
        _take(sessions, config, "Q", 1, T0 + timedelta(hours=1), category="fees")
    assert any(f"improvement {rejected.id} matches on unknown fact(s) bogus" in r.getMessage() for r in caplog.records)
    with sessions() as s:
        linked = s.scalars(select(ImprovementLink.improvement_id)).all()
        assert open_one.id not in linked  # the bad fact matches no complaint: nothing linked to it
        proposed = s.scalars(select(Improvement).where(Improvement.created_by == "system")).one()
        assert set(ids) <= set(s.scalars(select(ImprovementLink.complaint_id)
                                         .where(ImprovementLink.improvement_id == proposed.id)))
    # the effectiveness check of such a record finds no data instead of failing the sweep
    rec = _implemented(sessions, config, T0 + timedelta(days=1), ids[:1])
    _store_bad_match(sessions, rec.id, {"category": "billing", "bogus": "1"})
    sweep(sessions, config, rec.check_due_at + timedelta(minutes=1))
    with sessions() as s:
        check = s.scalars(select(EffectivenessCheck).where(EffectivenessCheck.improvement_id == rec.id)).one()
        assert (check.before_count, check.after_count, check.decision) == (0, 0, "not_enough_data")


def test_create_on_a_fresh_database_syncs_the_departments_first(sessions):
    """No intake yet: the department table was empty and the record's owner failed its foreign key."""
    config = _cfg(cluster_size=1000)
    rec = imp.create(sessions, config=config, title="t", owner_department="operations",
                     match={"category": "x"}, actor="m", at=T0)
    assert rec.status == "proposed"
    with pytest.raises(InvalidInput) as err:
        imp.create(sessions, config=config, title="t", owner_department="nobody", match={"category": "x"},
                   actor="m", at=T0)
    assert err.value.field == "owner_department"
    # a department configured after the last sync gets its row before its first action
    text = open("closeloop/config/default.toml", encoding="utf-8").read()
    legal = parse_config(text + '\n[departments.legal]\ndisplay_name = "Legal"\nlead = "legal-lead"\n'
                                'notify = ""\ncalendar = "default"\n')
    imp.fire(sessions, rec.id, "approve", config=legal, root_cause="process_gap", actor="m", at=T0)
    task = imp.add_action(sessions, rec.id, config=legal, kind="preventive", department="legal",
                          title="Review the terms", actor="m", at=T0, business_days=2)
    assert task.department == "legal"


def _reimplement(sessions, config, rec_id, at):
    task = imp.add_action(sessions, rec_id, config=config, kind="corrective", department="operations",
                          title="Try again", actor="ops-lead", at=at, business_days=2)
    task_svc.complete(sessions, task.id, config=config, actor="ops-1", at=at + timedelta(hours=1))
    return imp.fire(sessions, rec_id, "implement", config=config, actor="ops-lead", at=at + timedelta(hours=2))


def _pending_checks(sessions, rec_id):
    with sessions() as s:
        return s.execute(select(Timer.key, Timer.fire_at).where(
            Timer.improvement_id == rec_id, Timer.kind == "effectiveness", Timer.status == "pending")).all()


def _checks(sessions, rec_id):
    with sessions() as s:
        return s.scalars(select(EffectivenessCheck.decision).where(EffectivenessCheck.improvement_id == rec_id)
                         .order_by(EffectivenessCheck.id)).all()


def test_reimplementing_after_an_ineffective_check_gets_its_own_check(sessions):
    """``implement`` reset the attempt to 0 and the key ``effectiveness:{record}:0`` had already fired: the
    second implementation was never checked while ``show`` named a due date."""
    config = _cfg(cluster_size=1000)
    rec = _check(sessions, config, before_n=8, after_n=8)
    assert _checks(sessions, rec.id) == ["ineffective"]
    again_at = rec.check_due_at + timedelta(days=3)
    again = _reimplement(sessions, config, rec.id, again_at)
    assert (again.status, again.check_attempts) == ("implemented", 0)
    sweep(sessions, config, again_at + timedelta(hours=3))
    (key, fire_at), = _pending_checks(sessions, rec.id)
    assert fire_at == again.check_due_at and key != f"effectiveness:{rec.id}:0"  # what show says is pending
    sweep(sessions, config, again.check_due_at + timedelta(minutes=1))
    assert len(_checks(sessions, rec.id)) == 2
    with sessions() as s:
        assert s.get(Improvement, rec.id).status != "implemented"


def test_after_two_checks_without_data_a_person_judges_and_the_next_implementation_is_checked(sessions):
    config = _cfg(cluster_size=1000)
    rec = _check(sessions, config, before_n=2, after_n=0)
    with sessions() as s:
        due = s.get(Improvement, rec.id).check_due_at
    sweep(sessions, config, due + timedelta(minutes=1))
    assert _checks(sessions, rec.id) == ["not_enough_data", "not_enough_data"]
    at = due + timedelta(days=1)
    imp.fire(sessions, rec.id, "confirm_ineffective", config=config, reason="still happening", actor="ops-manager",
             at=at)
    with sessions() as s:  # the person who judged is on the rework too, not the sweep
        trail = s.execute(select(Transition.trigger, Transition.actor).where(
            Transition.entity == "improvement", Transition.entity_id == rec.id).order_by(Transition.id)).all()
    assert trail[-2:] == [("confirm_ineffective", "ops-manager"), ("rework", "ops-manager")]
    again = _reimplement(sessions, config, rec.id, at)
    sweep(sessions, config, at + timedelta(hours=3))
    assert [f for _, f in _pending_checks(sessions, rec.id)] == [again.check_due_at]
    sweep(sessions, config, again.check_due_at + timedelta(minutes=1))
    assert len(_checks(sessions, rec.id)) == 3


def test_a_record_left_without_its_check_by_the_old_keys_gets_it_from_the_sweep(sessions):
    """A database where a re-implementation's check key had already fired (``timers_dirty`` cleared, no
    pending timer): the sweep finds the record waiting for a check without a timer and schedules it."""
    from sqlalchemy import update

    config = _cfg(cluster_size=1000)
    rec = _check(sessions, config, before_n=8, after_n=8)
    again_at = rec.check_due_at + timedelta(days=3)
    again = _reimplement(sessions, config, rec.id, again_at)
    with sessions.begin() as s:  # as the old reconcile left it: its key had fired, nothing pending, not dirty
        s.execute(update(Improvement).where(Improvement.id == rec.id).values(timers_dirty=False))
    sweep(sessions, config, again.check_due_at + timedelta(days=30))  # long overdue: caught up at once
    assert len(_checks(sessions, rec.id)) == 2


def test_after_a_rework_implementing_needs_an_action_finished_since(sessions):
    """The failed implementation's finished action had satisfied the gate: ``implement`` went through at once
    after the rework. Now it needs an action finished after the rework, which may be added while in progress."""
    config = _cfg(cluster_size=1000)
    rec = _check(sessions, config, before_n=8, after_n=8)
    at = rec.check_due_at + timedelta(days=1)
    with sessions() as s:
        assert s.get_one(Improvement, rec.id).status == "in_progress"
    with pytest.raises(InvalidInput) as err:
        imp.fire(sessions, rec.id, "implement", config=config, actor="ops-lead", at=at)
    assert err.value.field == "actions" and "since its rework" in str(err.value)
    task = imp.add_action(sessions, rec.id, config=config, kind="corrective", department="operations",
                          title="Try again", actor="ops-lead", at=at, business_days=2)
    with pytest.raises(InvalidInput):  # added, not finished: still refused (and it is open)
        imp.fire(sessions, rec.id, "implement", config=config, actor="ops-lead", at=at + timedelta(minutes=30))
    task_svc.complete(sessions, task.id, config=config, actor="ops-1", at=at + timedelta(hours=1))
    again = imp.fire(sessions, rec.id, "implement", config=config, actor="ops-lead", at=at + timedelta(hours=2))
    assert again.status == "implemented"


def test_complaints_without_facts_never_form_or_join_a_recurrence_cluster(sessions):
    """Three e-mails from different customers about different things and two API posts, none with a category or
    product, made the record "Recurring complaints: no facts" and every later such complaint joined it: verified
    effective, it would have told unrelated customers their problem was fixed. One by one and as one batch of
    imported history alike."""
    config = _cfg(cluster_size=3, cluster_days=7)
    bare = [facts(f"N{i}", T0 + timedelta(hours=i), category="", source="email" if i < 3 else "api",
                  customer_ref=f"cust-{i}", text=f"about thing {i}") for i in range(5)]
    for f in bare[:3]:
        intake(sessions, config, T0 + timedelta(hours=6), [f])
    intake(sessions, config, T0 + timedelta(hours=6), bare[3:])
    intake(sessions, config, T0 + timedelta(days=30),
           [facts(f"H{i}", T0 + timedelta(days=20, hours=i), category="", source="email") for i in range(6)])
    with sessions() as s:
        assert s.scalars(select(Improvement)).all() == []
        assert s.scalars(select(Notification).where(Notification.kind == "improvement_proposed")).all() == []


def test_a_stored_record_of_no_facts_takes_in_no_complaint_and_is_never_judged_effective(sessions, caplog):
    config = _cfg(cluster_size=1000)
    _take(sessions, config, "W", 1, T0 - timedelta(days=1), category="warm-up")  # departments synced
    rec = imp.create(sessions, config=config, title="Recurring complaints: no facts", owner_department="operations",
                     match={"category": "warm-up", "product": ""}, actor="system", at=T0)
    _store_bad_match(sessions, rec.id, {"category": "", "product": ""})  # as proposed before the fix
    with caplog.at_level("WARNING", logger="closeloop.capa"):
        later = _take(sessions, config, "E", 2, T0 + timedelta(hours=1), category="", source="email")
    assert any(f"improvement {rec.id} matches on no fact with a value" in r.getMessage() for r in caplog.records)
    with sessions() as s:
        linked = set(s.scalars(select(ImprovementLink.complaint_id).where(ImprovementLink.improvement_id == rec.id)))
        assert matching_count(s, s.get_one(Improvement, rec.id), T0 - timedelta(days=9), T0 + timedelta(days=9)) == 0
    assert linked.isdisjoint(later)
    # a person cannot make one either (nor from a complaint without facts)
    for match in ({"category": "", "product": ""}, {"source": "email"}, {"source": "email", "category": ""}):
        with pytest.raises(InvalidInput, match="match.*other than source") as err:
            imp.create(sessions, config=config, title="t", owner_department="operations", match=match,
                       actor="m", at=T0)
        assert err.value.field == "match"
    with pytest.raises(InvalidInput, match="match"):
        imp.create(sessions, config=config, title="t", owner_department="operations", complaint_ids=later[:1],
                   actor="m", at=T0)
