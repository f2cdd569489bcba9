"""K10: configuration is part of the state. A new policy reaches open work at the next sweep: stored due
instants, timers and the reminders' thresholds follow it, paused time and the audit log are kept; going
back to an earlier version is a change too. (ISSUE 12 case 1: P3 resolve 8 -> 16 business hours.)"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from models.tables import Complaint, Notification, Task, Timer, Transition

from .helpers import facts, intake
from .test_sweep import SH, engine_config, run_sweeps

OLD = "P3 = { acknowledge = 2, resolve = 8 }"
NEW = "P3 = { acknowledge = 2, resolve = 16 }"


def _task(sessions) -> Task:
    with sessions() as s:
        return s.scalars(select(Task)).one()


def _pending(sessions, kind: str) -> dict[str, datetime]:
    with sessions() as s:
        rows = s.scalars(select(Timer).where(Timer.kind == kind, Timer.status == "pending")).all()
        return {t.key.rsplit(":", 1)[-1]: t.fire_at for t in rows}


def test_a_longer_resolve_target_moves_due_instants_and_reminders_at_the_next_sweep(sessions):
    old, new = engine_config(targets=OLD), engine_config(targets=NEW)
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)  # Mon; CN calendar mon-fri 09:00-18:00
    intake(sessions, old, created, [facts("K10", created)])
    run_sweeps(sessions, old, created, datetime(2026, 3, 2, 10, 0, tzinfo=SH))
    assert _task(sessions).due_at == datetime(2026, 3, 2, 17, 0, tzinfo=SH)      # 8 business hours
    assert _pending(sessions, "reminder")["80"] == datetime(2026, 3, 2, 15, 24, tzinfo=SH)

    report = run_sweeps_report(sessions, new, datetime(2026, 3, 2, 10, 15, tzinfo=SH))
    assert report.policy_flagged == 1 and report.rescheduled == 1
    task = _task(sessions)
    assert task.due_at == datetime(2026, 3, 3, 16, 0, tzinfo=SH)     # 16 business hours: Mon 9 h + Tue 7 h
    assert _pending(sessions, "reminder") == {
        "50": datetime(2026, 3, 2, 17, 0, tzinfo=SH),                # 8 h
        "80": datetime(2026, 3, 3, 12, 48, tzinfo=SH),               # 12.8 h: Mon 9 h + Tue 3.8 h
        "100": datetime(2026, 3, 3, 16, 0, tzinfo=SH)}
    assert _pending(sessions, "escalation")["1"] == datetime(2026, 3, 3, 16, 0, tzinfo=SH)

    # the old 80 % instant passes without a reminder; the same configuration again flags nothing
    run_sweeps(sessions, new, datetime(2026, 3, 2, 10, 30, tzinfo=SH), datetime(2026, 3, 2, 16, 0, tzinfo=SH))
    with sessions() as s:
        kinds = [(n.kind, (n.data or {}).get("params", {}).get("pct")) for n in s.scalars(select(Notification))]
    assert ("reminder", 80) not in kinds
    assert run_sweeps_report(sessions, new, datetime(2026, 3, 2, 16, 15, tzinfo=SH)).policy_flagged == 0


def test_going_back_to_the_earlier_version_is_a_change_too(sessions):
    old, new = engine_config(targets=OLD), engine_config(targets=NEW)
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    intake(sessions, old, created, [facts("K10b", created)])
    run_sweeps_report(sessions, new, datetime(2026, 3, 2, 9, 15, tzinfo=SH))
    assert _task(sessions).due_at == datetime(2026, 3, 3, 16, 0, tzinfo=SH)
    assert run_sweeps_report(sessions, old, datetime(2026, 3, 2, 9, 30, tzinfo=SH)).policy_flagged == 1
    assert _task(sessions).due_at == datetime(2026, 3, 2, 17, 0, tzinfo=SH)
    assert _pending(sessions, "reminder")["80"] == datetime(2026, 3, 2, 15, 24, tzinfo=SH)


def test_paused_time_survives_a_policy_change(sessions):
    """A task paused (waiting) for a whole business day keeps that day out of its budget after the change."""
    from closeloop.services.work import tasks as task_svc

    old, new = engine_config(targets=OLD), engine_config(targets=NEW)
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    intake(sessions, old, created, [facts("K10c", created)])
    tid = _task(sessions).id
    task_svc.acknowledge(sessions, tid, config=old, actor="agent", at=datetime(2026, 3, 2, 10, 0, tzinfo=SH))
    task_svc.pause(sessions, tid, config=old, actor="agent", at=datetime(2026, 3, 2, 11, 0, tzinfo=SH),
                   reason="waiting on the supplier")
    task_svc.resume(sessions, tid, config=old, actor="agent", at=datetime(2026, 3, 3, 11, 0, tzinfo=SH))
    with sessions() as s:
        audit_rows = s.scalars(select(Transition).where(Transition.entity == "task")).all()
    run_sweeps_report(sessions, new, datetime(2026, 3, 3, 11, 15, tzinfo=SH))
    # 2 h ran on Mon before the pause; 14 h remain from Tue 11:00: Tue 7 h, Wed 7 h -> Wed 16:00
    assert _task(sessions).due_at == datetime(2026, 3, 4, 16, 0, tzinfo=SH)
    with sessions() as s:
        assert len(s.scalars(select(Transition).where(Transition.entity == "task")).all()) == len(audit_rows)
        assert s.scalars(select(Complaint)).one().timers_dirty is False


def run_sweeps_report(sessions, config, at):
    from closeloop.services.engine.sweep import sweep

    return sweep(sessions, config, at)
