"""K10: configuration is part of the state. A new policy reaches open work at the next sweep: stored due
instants, timers and the reminders' thresholds follow it, paused time and the audit log are kept; going
back to an earlier version is a change too. (ISSUE 12 case 1: P3 resolve 8 -> 16 business hours.)"""

from __future__ import annotations

from datetime import UTC, datetime

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


# ------------------------------------------------------------------ K10: only what a change can reach
def _scoped_config(*, p3="resolve = 8", uk_hours="mon-fri 09:00-17:00", lead="service-lead", rule_title="Handle"):
    """Service and triage on a Shanghai calendar (also the customer's), product on a London one; outages are
    P1 (a rule's severity), billing and terms complaints P3 (triage's default)."""
    from closeloop.config import parse_config

    deps = {"service": ("default", lead), "product": ("uk", ""), "triage": ("default", "")}
    routes = [("outage", "P1", "service", "handle"), ("billing", None, "service", "handle"),
              ("terms", None, "product", "review")]
    departments = "".join(f'[departments.{d}]\ndisplay_name = "{d}"\nlead = "{who}"\ncalendar = "{cal}"\n'
                          for d, (cal, who) in deps.items())
    rules = "".join(f'[[rules]]\nname = "{c}"\n' + (f'severity = "{sev}"\n' if sev else "")
                    + f'when = {{ category = ["{c}"] }}\ntasks = [{{ department = "{d}", kind = "{k}", '
                      f'title = "{rule_title} the {c} complaint" }}]\n' for c, sev, d, k in routes)
    return parse_config(departments + f"""
[calendars.default]
timezone = "Asia/Shanghai"
hours = "mon-fri 09:00-18:00"
country = "CN"
[calendars.uk]
timezone = "Europe/London"
hours = "{uk_hours}"
[sla]
customer_calendar = "default"
targets = {{ P1 = {{ acknowledge = 1, resolve = 8 }}, P3 = {{ acknowledge = 2, {p3} }} }}
[escalation]
crisis_severities = ["P1", "P2", "P3", "P4"]
[fallback]
tasks = [{{ department = "triage", kind = "triage", title = "Route by hand" }}]
""" + rules, "k10-scoped")


def _three_complaints(sessions):
    """An outage (P1, service), a billing complaint (P3, service) and a terms complaint (P3, product), taken
    in on Mon 2026-03-02 09:00 Shanghai; returns their task ids by category and the timers then."""
    config = _scoped_config()
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    ids = intake(sessions, config, created, [facts(f"K10-{c}", created, category=c)
                                             for c in ("outage", "billing", "terms")])
    run_sweeps_report(sessions, config, datetime(2026, 3, 2, 9, 15, tzinfo=SH))
    with sessions() as s:
        by_complaint = {t.complaint_id: t for t in s.scalars(select(Task))}
        assert [s.get(Complaint, i).severity for i in ids] == ["P1", "P3", "P3"]
    tasks = dict(zip(("outage", "billing", "terms"), (by_complaint[i].id for i in ids), strict=True))
    return tasks, _timers(sessions)


def _timers(sessions) -> dict[str, tuple[str, datetime]]:
    with sessions() as s:
        return {t.key: (t.status, t.fire_at) for t in s.scalars(select(Timer))}


def _due(sessions, task_id: int) -> datetime | None:
    with sessions() as s:
        return s.get(Task, task_id).due_at


def test_a_p3_target_change_reaches_p3_complaints_only(sessions):
    tasks, before = _three_complaints(sessions)
    # 8 business hours from Mon 09:00: Mon 17:00 Shanghai; London 09:00-17:00 from Mon 09:00 GMT
    assert _due(sessions, tasks["billing"]) == datetime(2026, 3, 2, 17, 0, tzinfo=SH)
    assert _due(sessions, tasks["terms"]) == datetime(2026, 3, 2, 17, 0, tzinfo=UTC)

    report = run_sweeps_report(sessions, _scoped_config(p3="resolve = 16"), datetime(2026, 3, 2, 9, 30, tzinfo=SH))
    assert report.policy_flagged == 2 and report.rescheduled == 2       # the P1 outage is not flagged
    assert _due(sessions, tasks["outage"]) == datetime(2026, 3, 2, 17, 0, tzinfo=SH)        # P1: 8 h, unchanged
    assert _due(sessions, tasks["billing"]) == datetime(2026, 3, 3, 16, 0, tzinfo=SH)       # Mon 9 h + Tue 7 h
    assert _due(sessions, tasks["terms"]) == datetime(2026, 3, 3, 17, 0, tzinfo=UTC)        # Mon 8 h + Tue 8 h
    after = _timers(sessions)
    outage = f"escalation:{tasks['outage']}:1"
    assert after[outage] == before[outage] == ("pending", datetime(2026, 3, 2, 17, 0, tzinfo=SH))
    assert {k: v for k, v in after.items() if f":{tasks['outage']}:" in k} == \
        {k: v for k, v in before.items() if f":{tasks['outage']}:" in k}
    assert after[f"escalation:{tasks['billing']}:1"] == ("pending", datetime(2026, 3, 3, 16, 0, tzinfo=SH))


def test_one_departments_calendar_change_reaches_complaints_with_tasks_there_only(sessions):
    tasks, before = _three_complaints(sessions)
    report = run_sweeps_report(sessions, _scoped_config(uk_hours="mon-fri 10:00-18:00"),
                               datetime(2026, 3, 2, 9, 30, tzinfo=SH))
    assert report.policy_flagged == 1 and report.rescheduled == 1       # the terms complaint (product task)
    assert _due(sessions, tasks["terms"]) == datetime(2026, 3, 2, 18, 0, tzinfo=UTC)        # 10:00 + 8 h GMT
    assert _due(sessions, tasks["billing"]) == datetime(2026, 3, 2, 17, 0, tzinfo=SH)
    after = _timers(sessions)
    assert after[f"reminder:{tasks['terms']}:50"] == ("pending", datetime(2026, 3, 2, 14, 0, tzinfo=UTC))
    assert {k: v for k, v in after.items() if f":{tasks['terms']}:" not in k} == \
        {k: v for k, v in before.items() if f":{tasks['terms']}:" not in k}


def test_a_change_no_timer_reads_flags_nothing_and_an_unplaced_one_flags_all(sessions):
    _three_complaints(sessions)
    at = datetime(2026, 3, 2, 9, 30, tzinfo=SH)
    assert run_sweeps_report(sessions, _scoped_config(lead="someone-else", rule_title="Take care of"),
                             at).policy_flagged == 0
    # the customer calendar (Shanghai) carries the complaints' own clocks: every open complaint
    wider = _scoped_config(lead="someone-else", rule_title="Take care of").text.replace(
        'hours = "mon-fri 09:00-18:00"', 'hours = "mon-fri 08:00-18:00"')
    from closeloop.config import parse_config

    assert run_sweeps_report(sessions, parse_config(wider, "k10-wider"), at).policy_flagged == 3
