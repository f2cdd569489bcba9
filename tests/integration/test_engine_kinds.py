"""Issue 12: notices that still apply at release (K12), acknowledgement paging and run-time ping-pong (K13),
and the timer kinds declared once (the sweep, the packer and the README read one table)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from closeloop.domain.notices import NOTICES, TIMERS, DropReason, rules_table
from closeloop.services.engine import sweep_pack
from closeloop.services.engine.sweep import sweep
from closeloop.services.work import tasks as task_svc
from models.tables import Complaint, Notification, Outbox, Task, Timer

from .helpers import facts, intake, sent_statements
from .test_sweep import SH, engine_config

ROOT = Path(__file__).resolve().parents[2]


def _task(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(Task.id).order_by(Task.id).limit(1))


def _notes(sessions, task_id):
    with sessions() as s:
        return {n.key.rsplit(":", 2)[0] + ":" + n.key.rsplit(":", 1)[-1]: (n.status, n.dropped_reason, n.release_at)
                for n in s.scalars(select(Notification).where(Notification.task_id == task_id,
                                                              Notification.kind != "ack_timeout"))}


@pytest.mark.parametrize("page", [5000, 1])
@pytest.mark.parametrize("completed", [True, False])
def test_case3_held_notices_are_checked_again_when_released(sessions, completed, page, monkeypatch):
    """The packer reads ``page`` released rows per transaction (issue 15: a backlog is never read whole); a
    reminder on one page is still superseded by the escalation on a later page.

    Task due Fri 18:00 (Asia/Shanghai 09:00-18:00), first swept Fri 18:05: the 50/80/100 % reminders and
    escalation level 1 are held for Monday 09:00. Completed Saturday 10:00: at Monday's release all four are
    dropped as task_done and the assignee gets nothing. Not completed: only the level-1 escalation goes out,
    the reminders it superseded are dropped as superseded."""
    monkeypatch.setattr(sweep_pack, "PACK_PAGE", page)
    config = engine_config()
    created = datetime(2026, 3, 6, 10, 0, tzinfo=SH)  # Friday; 8 business hours -> due Friday 18:00
    intake(sessions, config, created, [facts("K12", created)])
    tid = _task(sessions)
    task_svc.acknowledge(sessions, tid, config=config, actor="ann", at=datetime(2026, 3, 6, 10, 30, tzinfo=SH))
    sweep(sessions, config, datetime(2026, 3, 6, 10, 30, tzinfo=SH))
    sweep(sessions, config, datetime(2026, 3, 6, 18, 5, tzinfo=SH))
    monday = datetime(2026, 3, 9, 9, 0, tzinfo=SH)
    held = _notes(sessions, tid)
    assert {k: (v[0], v[2]) for k, v in held.items()} == {
        k: ("pending", monday) for k in ("reminder:50", "reminder:80", "reminder:100", "escalation:1")}
    if completed:
        task_svc.complete(sessions, tid, config=config, actor="ann", at=datetime(2026, 3, 7, 10, 0, tzinfo=SH),
                          outcome="refunded", root_cause="process_gap")
    report = sweep(sessions, config, datetime(2026, 3, 9, 9, 5, tzinfo=SH))
    got = {k: v[:2] for k, v in _notes(sessions, tid).items()}
    if completed:
        assert got == {k: ("dropped", DropReason.TASK_DONE) for k in held}
        assert report.dropped == {"task_done": 4}
        assert report.messages == 0
    else:
        assert got == {"reminder:50": ("dropped", "superseded"), "reminder:80": ("dropped", "superseded"),
                       "reminder:100": ("dropped", "superseded"), "escalation:1": ("packed", None)}
        with sessions() as s:
            (body,) = s.scalars(select(Outbox.body)).all()
        assert "overdue (level 1)" in body and "time budget" not in body


def test_a_tasks_chain_ranks_are_read_once_per_pack_across_pages(sessions, monkeypatch):
    """Packing one released row per page (case 3's four held notices of one task, so four pages) reads that
    task's earlier notices once, not once per page (a catch-up's pages share most of their tasks: 200,000
    rows read for 43,000 released), and still drops the three reminders the escalation on the last page
    superseded."""
    monkeypatch.setattr(sweep_pack, "PACK_PAGE", 1)
    config = engine_config()
    created = datetime(2026, 3, 6, 10, 0, tzinfo=SH)
    intake(sessions, config, created, [facts("K12once", created)])
    tid = _task(sessions)
    task_svc.acknowledge(sessions, tid, config=config, actor="ann", at=datetime(2026, 3, 6, 10, 30, tzinfo=SH))
    sweep(sessions, config, datetime(2026, 3, 6, 18, 5, tzinfo=SH))
    with sent_statements(sessions.kw["bind"]) as sent:
        report = sweep(sessions, config, datetime(2026, 3, 9, 9, 5, tzinfo=SH))
    reads = [stmt for stmt, _ in sent
             if stmt.startswith("SELECT notification.kind") and "notification.task_id IN" in stmt]
    assert len(reads) == 1
    assert report.dropped == {"superseded": 3} and report.messages == 1
    assert {k: v[:2] for k, v in _notes(sessions, tid).items()}["escalation:1"] == ("packed", None)


def test_case4_unacknowledged_task_pages_up_the_levels_until_acknowledged(sessions):
    config = engine_config(extra="ack_page_hours = 1")
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)  # Monday; acknowledge within 2 business hours
    intake(sessions, config, created, [facts("K13", created)])
    tid = _task(sessions)
    for h in (9, 11, 12, 13, 14):
        sweep(sessions, config, datetime(2026, 3, 2, h, 0, tzinfo=SH))
    task_svc.acknowledge(sessions, tid, config=config, actor="ann", at=datetime(2026, 3, 2, 14, 30, tzinfo=SH))
    for day in (2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 16):  # two weeks: nothing more about acknowledgement
        sweep(sessions, config, datetime(2026, 3, day, 17, 0, tzinfo=SH))
    with sessions() as s:
        pages = s.execute(select(Notification.role, Notification.level, Notification.fired_at)
                          .where(Notification.kind == "ack_timeout").order_by(Notification.id)).all()
        timers = s.execute(select(Timer.key, Timer.status).where(Timer.kind == "ack_timeout")
                           .order_by(Timer.id)).all()
    assert [(p.role, p.level, p.fired_at) for p in pages] == [
        ("assignee", 1, datetime(2026, 3, 2, 11, 0, tzinfo=SH)),
        ("lead", 2, datetime(2026, 3, 2, 12, 0, tzinfo=SH)),
        ("operations_manager", 3, datetime(2026, 3, 2, 13, 0, tzinfo=SH)),
        ("operations_manager", 3, datetime(2026, 3, 2, 14, 0, tzinfo=SH))]
    assert [(k.rsplit(":", 1)[-1], st) for k, st in timers] == [
        ("1", "fired"), ("2", "fired"), ("3", "fired"), ("4", "fired"), ("5", "cancelled")]


def test_case5_ping_pong_escalates_at_run_time(sessions):
    config = engine_config()  # transfer_limit 2: two transfers are under the limit
    at = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    intake(sessions, config, at, [facts("K13pp", at)])
    tid = _task(sessions)
    t2 = task_svc.transfer(sessions, tid, config=config, to="product", reason="a product question", actor="ops",
                           at=datetime(2026, 3, 2, 10, 0, tzinfo=SH))
    sweep(sessions, config, datetime(2026, 3, 2, 10, 5, tzinfo=SH))
    with sessions() as s:
        assert s.scalar(select(Notification).where(Notification.kind == "ping_pong")) is None
        t2_id = s.scalar(select(Task.id).where(Task.status == "open"))
    task_svc.transfer(sessions, t2_id, config=config, to="service", reason="it is billing after all", actor="pm",
                      at=datetime(2026, 3, 2, 11, 0, tzinfo=SH))
    sweep(sessions, config, datetime(2026, 3, 2, 11, 5, tzinfo=SH))
    with sessions() as s:
        (n,) = s.scalars(select(Notification).where(Notification.kind == "ping_pong")).all()
    assert (n.role, n.level, n.fired_at) == ("operations_manager", 3, datetime(2026, 3, 2, 11, 5, tzinfo=SH))
    assert n.data["text"] == "sent back to service: service -> product -> service"
    assert t2 is not None


#: Same spelling, another meaning: the customer's follow-up verdict (an audit trigger), a replayed
#: customer's answer (a replay event) and the monthly review's fields of bounced complaints; the
#: customer milestone "follow_up" (issue 13), the "promise" entity of the audit log and its API
#: (issue 13), and the replay report's series label "escalation".
NOT_KINDS = {  # the verdict's audit trigger, not the timer
    ("closeloop/config/customers.py", "follow_up"), ("closeloop/services/customers/promises.py", "promise"),
    ("closeloop/api/routes_customers.py", "promise"), ("closeloop/domain/promise.py", "promise"),
    ("closeloop/services/replay/report.py", "escalation"),
    ("closeloop/services/review/review_complaints.py", "follow_up"),
    ("closeloop/services/work/lifecycle.py", "follow_up"),
    ("closeloop/services/replay/report.py", "follow_up"), ("closeloop/services/replay/replay.py", "follow_up"),
    ("closeloop/services/review/review_sla.py", "transfers"), ("closeloop/services/review/review_sla.py", "ping_pong"),
    ("closeloop/services/customers/view.py", "follow_up"),
    # configuration section names ([escalation], [follow_up]) whose changes K10 places
    ("closeloop/config/changes.py", "escalation"), ("closeloop/config/changes.py", "follow_up"),
}


def test_every_timer_kind_is_declared_once_and_no_kind_literal_elsewhere():
    kinds = {str(k) for k in TIMERS} | {str(k) for k in NOTICES}
    offenders = []
    for path in list((ROOT / "closeloop").rglob("*.py")) + list((ROOT / "flows").rglob("*.py")):
        if path.name == "notices.py":
            continue
        text = path.read_text("utf-8")
        for kind in kinds:
            for q in ('"', "'"):
                rel = str(path.relative_to(ROOT))
                if (f"{q}{kind}{q}" in text or f"{q}{kind}:" in text) and (rel, kind) not in NOT_KINDS:
                    offenders.append(f"{rel}: {kind}")
    assert "if t.kind ==" not in (ROOT / "closeloop/services/engine/sweep.py").read_text("utf-8")
    assert offenders == []


def test_readme_rules_table_is_the_declaration():
    readme = (ROOT / "README.md").read_text("utf-8")
    assert rules_table() in readme, "README's rules table is stale: paste closeloop.domain.notices.rules_table()"


@pytest.mark.parametrize("goes_on", [False, True])
def test_case2_waiting_on_the_customer_pauses_the_tasks_that_wait_on_the_answer(sessions, goes_on):
    """An acknowledged task of a complaint that waits on the customer does not climb the ladder in 8 days; its
    history says why it paused; the customer's answer resumes it with its due time moved by the wait. A task
    the wait names as going on keeps its clock and escalates."""
    from closeloop.services.work import lifecycle
    from closeloop.services.work.messages import add_message
    from models.tables import Transition

    config = engine_config()
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)  # Monday; 8 business hours: due Mon 18:00
    (cid,) = intake(sessions, config, created, [facts("K11", created)])
    tid = _task(sessions)
    task_svc.acknowledge(sessions, tid, config=config, actor="ann", at=datetime(2026, 3, 2, 9, 30, tzinfo=SH))
    lifecycle.await_customer(sessions, cid, config=config, reason="the customer sends the invoice", actor="ann",
                             at=datetime(2026, 3, 2, 10, 0, tzinfo=SH), continuing=[tid] if goes_on else [])
    for day in range(2, 11):
        sweep(sessions, config, datetime(2026, 3, day, 17, 30, tzinfo=SH))
    with sessions() as s:
        task = s.get(Task, tid)
        levels = s.scalars(select(Notification.level).where(Notification.kind == "escalation")
                           .order_by(Notification.level)).all()
        pause = s.scalar(select(Transition).where(Transition.entity == "task", Transition.entity_id == tid,
                                                  Transition.to_state == "waiting"))
    if goes_on:
        assert task.status == "acknowledged" and levels == [1, 2, 3, 4] and pause is None
        return
    assert task.status == "waiting" and levels == []
    assert pause.reason == "waiting on the customer: the customer sends the invoice"
    assert pause.at == datetime(2026, 3, 2, 10, 0, tzinfo=SH)
    add_message(sessions, cid, config=config, direction="inbound", body="here is the invoice", author="customer",
                at=datetime(2026, 3, 11, 9, 0, tzinfo=SH), channel="email")
    with sessions() as s:
        task = s.get(Task, tid)
        last = s.scalar(select(Transition).where(Transition.entity == "task", Transition.entity_id == tid)
                        .order_by(Transition.id.desc()).limit(1))
    # 1 business hour used before the wait; 7 left from Wed 11 March 09:00
    assert (task.status, task.due_at) == ("in_progress", datetime(2026, 3, 11, 16, 0, tzinfo=SH))
    assert (last.trigger, last.reason) == ("resume", "the customer answered")


def test_case2_a_task_nobody_acknowledged_stays_unacknowledged_through_the_wait(sessions):
    """The wait holds an open task without acknowledging it: no acknowledge page during the wait; the customer's
    answer releases it back to ``open`` (not to work nobody started), unassigned, its acknowledge clock paused
    meanwhile and due again one business hour later (2 targeted, 1 used before the wait); then it pages."""
    from closeloop.services.engine.clocks import task_clocks
    from closeloop.services.work import lifecycle
    from closeloop.services.work.messages import add_message
    from models.tables import Transition

    config = engine_config()
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)  # Monday; acknowledge within 2 business hours
    (cid,) = intake(sessions, config, created, [facts("K11-open", created)])
    tid = _task(sessions)
    lifecycle.await_customer(sessions, cid, config=config, reason="the customer sends the invoice", actor="ann",
                             at=datetime(2026, 3, 2, 10, 0, tzinfo=SH))
    for day in range(2, 11):
        sweep(sessions, config, datetime(2026, 3, day, 17, 30, tzinfo=SH))
    answered = datetime(2026, 3, 11, 9, 0, tzinfo=SH)
    add_message(sessions, cid, config=config, direction="inbound", body="here is the invoice", author="customer",
                at=answered, channel="email")
    with sessions() as s:
        task = s.get(Task, tid)
        pages = s.scalars(select(Notification.release_at).where(Notification.kind == "ack_timeout")).all()
        trail = [(t.from_state, t.trigger, t.to_state) for t in s.scalars(
            select(Transition).where(Transition.entity == "task", Transition.entity_id == tid).order_by(Transition.id))]
        (ack,) = [v.clock for v in task_clocks(s, task, config, answered) if v.clock.name == "acknowledge"]
    assert pages == []
    assert trail == [(None, "create", "open"), ("open", "pause", "waiting"), ("waiting", "release", "open")]
    assert (task.status, task.assignee) == ("open", None)
    assert ack.stopped_at is None and ack.status != "met"
    assert task.ack_due_at == datetime(2026, 3, 11, 10, 0, tzinfo=SH)
    sweep(sessions, config, datetime(2026, 3, 11, 10, 30, tzinfo=SH))
    with sessions() as s:
        assert s.scalars(select(Notification.task_id).where(Notification.kind == "ack_timeout")).all() == [tid]


def test_a_person_who_pauses_an_open_task_acknowledges_it(sessions):
    """A member pausing an unacknowledged task has answered it: acknowledged then waiting, same actor and
    instant, and its acknowledge clock stops met there (only a complaint's wait holds a task unacknowledged)."""
    from closeloop.services.engine.clocks import task_clocks
    from models.tables import Transition

    config = engine_config()
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    intake(sessions, config, created, [facts("P-open", created)])
    tid = _task(sessions)
    paused = datetime(2026, 3, 2, 10, 0, tzinfo=SH)
    task_svc.pause(sessions, tid, config=config, reason="the bank's statement", actor="ann", at=paused)
    with sessions() as s:
        task = s.get(Task, tid)
        trail = [(t.trigger, t.to_state, t.actor, t.at) for t in s.scalars(
            select(Transition).where(Transition.entity == "task", Transition.entity_id == tid,
                                     Transition.trigger != "create").order_by(Transition.id))]
        (ack,) = [v.clock for v in task_clocks(s, task, config, paused) if v.clock.name == "acknowledge"]
    assert trail == [("acknowledge", "acknowledged", "ann", paused), ("pause", "waiting", "ann", paused)]
    assert (ack.status, ack.stopped_at) == ("met", paused)
    with sessions() as s:  # as `tasks ack` leaves them: the pauser took the task up, the complaint's work began
        task = s.get(Task, tid)
        complaint = s.get(Complaint, task.complaint_id)
        assert (task.assignee, complaint.status) == ("ann", "in_progress")
