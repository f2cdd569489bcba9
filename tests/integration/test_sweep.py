"""The follow-up engine: timers fire at the instants the rules give, once, inside working hours.

CASES.md K6 (C21 reminder dedupe key, C22 duplicate sweep runs, C25 fan-out dedupe),
K3 (C11 a wait that times out) and the issue's catch-up and pause rules.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from closeloop.config import parse_config
from closeloop.domain.errors import InvalidInput
from closeloop.services.engine import sweep_pack
from closeloop.services.engine.sweep import add_manual_reminder, sweep
from closeloop.services.work import lifecycle
from closeloop.services.work import tasks as task_svc
from closeloop.services.work.messages import add_message
from models.tables import Complaint, Notification, Outbox, Task, Timer, Transition

from .helpers import facts, intake, sent_statements

SH = ZoneInfo("Asia/Shanghai")
UTC = UTC


def engine_config(*, calendar='timezone = "Asia/Shanghai"\nhours = "mon-fri 09:00-18:00"\ncountry = "CN"',
                  targets="P3 = { acknowledge = 2, resolve = 8 }", customer="", ladder="[0, 4, 8, 16]",
                  lead="service-lead", extra="", crisis='crisis_severities = ["P1", "P2", "P3", "P4"]'):
    """The engine tests' configuration; every severity reaches the crisis owner unless ``crisis`` says
    otherwise (the default configuration's rule, P1/P2 or public exposure, has its own tests)."""
    return parse_config(f"""
[departments.service]
display_name = "Service"
lead = "{lead}"
[departments.product]
display_name = "Product"
[departments.triage]
display_name = "Triage"
[calendars.default]
{calendar}
[sla.targets]
{targets}
[sla.customer]
{customer}
[escalation]
reminder_thresholds = [0.5, 0.8, 1.0]
ladder_hours = {ladder}
transfer_limit = 2
{crisis}
{extra}
[[rules]]
name = "billing"
[rules.when]
category = ["billing"]
[[rules.tasks]]
department = "service"
kind = "handle"
title = "Handle the billing complaint"
[fallback]
[[fallback.tasks]]
department = "triage"
kind = "triage"
title = "Route by hand"
""", "engine-test")


def run_sweeps(sessions, config, start, end, every=timedelta(minutes=15)):
    """Sweep at every tick from ``start`` to ``end``; returns the tick instants."""
    ticks, t = [], start
    while t <= end:
        sweep(sessions, config, t)
        ticks.append(t)
        t += every
    return ticks


def _timers(sessions, **where):
    with sessions() as s:
        q = select(Timer).order_by(Timer.fire_at, Timer.id)
        for k, v in where.items():
            q = q.where(getattr(Timer, k) == v)
        return s.scalars(q).all()


def _notes(sessions):
    with sessions() as s:
        return s.scalars(select(Notification).order_by(Notification.id)).all()


def test_reminders_ack_timeout_and_ladder_fire_once_at_their_instants(sessions):
    config = engine_config()
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)  # Mon; CN calendar 09:00-18:00
    intake(sessions, config, created, [facts("E1", created)])
    run_sweeps(sessions, config, created, datetime(2026, 3, 5, 9, 0, tzinfo=SH))
    fired = {t.key.split(":", 1)[0] + ":" + t.key.rsplit(":", 1)[-1]: (t.fire_at, t.fired_at)
             for t in _timers(sessions, status="fired") if t.kind != "ack_timeout"}
    expected = {
        "reminder:50": datetime(2026, 3, 2, 13, 0, tzinfo=SH),
        "reminder:80": datetime(2026, 3, 2, 15, 24, tzinfo=SH),   # 6.4 business hours
        "reminder:100": datetime(2026, 3, 2, 17, 0, tzinfo=SH),
        "escalation:1": datetime(2026, 3, 2, 17, 0, tzinfo=SH),
        "escalation:2": datetime(2026, 3, 3, 12, 0, tzinfo=SH),   # due + 4 business hours
        "escalation:3": datetime(2026, 3, 3, 16, 0, tzinfo=SH),   # due + 8
        "escalation:4": datetime(2026, 3, 4, 15, 0, tzinfo=SH),   # due + 16
    }
    # K13: acknowledgement pages from the ack due time (2 business hours) every 2 business hours, until
    # acknowledged: queue, lead, then the operations manager; a page may fall exactly at closing time;
    # ack_page_limit (default 6) pages at most, then the escalation ladder alone carries on
    pages = [(t.fire_at, t.fired_at) for t in _timers(sessions, status="fired") if t.kind == "ack_timeout"]
    d = lambda day, h: datetime(2026, 3, day, h, 0, tzinfo=SH)  # noqa: E731
    assert [p[0] for p in pages] == [d(2, 11), d(2, 13), d(2, 15), d(2, 17), d(3, 10), d(3, 12)]
    for fire_at, fired_at in pages:
        assert fire_at <= fired_at < fire_at + timedelta(minutes=15)
    assert _timers(sessions, status="pending", kind="ack_timeout") == []
    assert {k: v[0] for k, v in fired.items()} == expected
    for key, (fire_at, fired_at) in fired.items():  # each fired at the first sweep at or after its instant
        assert fire_at <= fired_at < fire_at + timedelta(minutes=15), key
    notes = _notes(sessions)
    assert sorted((n.kind, n.role) for n in notes) == sorted([
        ("ack_timeout", "assignee"), ("ack_timeout", "lead")] + [("ack_timeout", "operations_manager")] * 4 + [
        ("reminder", "assignee"), ("reminder", "assignee"), ("reminder", "assignee"),
        ("escalation", "assignee"), ("escalation", "lead"), ("escalation", "operations_manager"),
        ("escalation", "crisis_owner")])
    # the 100 % reminder fired in the same sweep as level 1 to the same assignee: superseded (K12)
    assert {(n.key.split(":")[0] + ":" + n.key.rsplit(":", 1)[-1], n.status, n.dropped_reason) for n in notes
            if n.status != "packed"} == {("reminder:100", "dropped", "superseded")}
    notes = [n for n in notes if n.status == "packed"]
    # one digest per recipient per sweep: ack timeout and the 50% reminder went out in different sweeps
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Outbox)) == len({n.outbox_id for n in notes})


def test_ack_page_limit_bounds_the_pages_and_a_reschedule_keeps_the_bound(sessions):
    """K13 bound: ``ack_page_limit`` pages at most per unacknowledged task (PagerDuty's repeat limit);
    a reschedule in the middle (an unrelated change) neither adds pages nor re-fires one."""
    config = engine_config(extra="ack_page_limit = 3")
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)  # Mon; CN calendar 09:00-18:00
    intake(sessions, config, created, [facts("E1", created)])
    run_sweeps(sessions, config, created, datetime(2026, 3, 2, 14, 0, tzinfo=SH))
    with sessions() as s:  # an unrelated change flags the complaint for rescheduling mid-chain
        s.execute(update(Complaint).values(timers_dirty=True))
        s.commit()
    run_sweeps(sessions, config, datetime(2026, 3, 2, 14, 0, tzinfo=SH), datetime(2026, 3, 6, 9, 0, tzinfo=SH))
    d = lambda day, h: datetime(2026, 3, day, h, 0, tzinfo=SH)  # noqa: E731
    assert [t.fire_at for t in _timers(sessions, kind="ack_timeout")] == [d(2, 11), d(2, 13), d(2, 15)]
    assert {t.status for t in _timers(sessions, kind="ack_timeout")} == {"fired"}
    assert sorted(n.role for n in _notes(sessions) if n.kind == "ack_timeout") == [
        "assignee", "lead", "operations_manager"]


def _task_id(sessions):
    with sessions() as s:
        return s.scalar(select(Task.id).order_by(Task.id).limit(1))


def test_sweeping_twice_or_after_downtime_fires_each_timer_once(sessions):
    config = engine_config()
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    intake(sessions, config, created, [facts("E2", created)])
    sweep(sessions, config, created)
    late = datetime(2026, 3, 5, 10, 0, tzinfo=SH)  # nothing ran for three days
    first = sweep(sessions, config, late)
    # acknowledgement pages every 2 business hours from Mon 11:00, ack_page_limit (6) of them, caught up at once
    assert first.fired == {"ack_timeout": 6, "reminder": 3, "escalation": 4}
    assert first.messages == 4  # one digest per address: assignee queue, lead, ops manager, crisis owner
    # K12: per task, recipient and role only the latest of a chain goes out: L1 (not the three reminders),
    # and to the operations manager page 6 (not pages 3 to 5)
    assert first.dropped == {"superseded": 3 + 3}
    again = sweep(sessions, config, late)
    assert (sum(again.fired.values()), again.notifications, again.messages) == (0, 0, 0)
    assert len(_notes(sessions)) == 13


def test_dropping_superseded_notices_names_a_bounded_number_of_ids_per_statement(sessions, monkeypatch):
    """A catch-up of 5% of 100,000 complaints drops about 90,000 notices: one UPDATE naming them all exceeded
    PostgreSQL's 65,535 bound parameters and failed every sweep's packing (bench/workers.py, issue 15)."""
    monkeypatch.setattr(sweep_pack, "DROP_BATCH", 2)
    config = engine_config()
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    intake(sessions, config, created, [facts("D1", created)])
    sweep(sessions, config, created)
    with sent_statements(sessions.kw["bind"]) as sent:
        report = sweep(sessions, config, datetime(2026, 3, 5, 10, 0, tzinfo=SH))
    # the ids; besides them: status, reason and the status check's two
    sizes = [len(params) - 4 for stmt, params in sent
             if stmt.startswith("UPDATE notification") and "dropped_reason" in stmt]
    assert report.dropped == {"superseded": 6}  # as in one statement (the downtime test above)
    assert len(sizes) == 3 and max(sizes) <= 2
    assert len([n for n in _notes(sessions) if n.status == "dropped"]) == 6


def test_c22_two_sweeps_at_once_create_one_escalation(sessions):
    config = engine_config(calendar='timezone = "UTC"\nhours = "mon-sun 00:00-24:00"',
                           targets="P3 = { resolve = 1 }", ladder="[0]")
    created = datetime(2026, 6, 1, 7, 50, tzinfo=UTC)  # due 08:50Z, level 1 at 08:50Z
    intake(sessions, config, created, [facts("C22", created)])
    sweep(sessions, config, created)
    at = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    errors: list[BaseException] = []

    def run():
        try:
            sweep(sessions, config, at)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    sweep(sessions, config, at)  # and a third, late duplicate run
    assert not errors, errors
    escalations = [n for n in _notes(sessions) if n.kind == "escalation"]
    assert len(escalations) == 1 and escalations[0].role == "assignee"
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Outbox).where(
            Outbox.payload.is_not(None), Outbox.recipient == escalations[0].recipient)) == 1
    with pytest.raises(IntegrityError):  # the database itself refuses a second row with the key
        with sessions.begin() as s:
            s.execute(insert(Notification.__table__).values(
                key=escalations[0].key, kind="escalation", level=1, role="assignee", recipient="x", address="x",
                channel="capture", target="capture://x", language="en", complaint_id=escalations[0].complaint_id,
                fired_at=at, release_at=at, status="pending", data={}))


def test_c21_second_reminder_on_the_same_day_is_sent_and_none_at_night(sessions):
    config = engine_config(targets="P3 = { }")
    created = datetime(2026, 3, 9, 9, 0, tzinfo=SH)
    intake(sessions, config, created, [facts("C21", created)])
    tid = _task_id(sessions)
    add_manual_reminder(sessions, tid, datetime(2026, 3, 10, 10, 0, tzinfo=SH), note="call back", now=created)
    run_sweeps(sessions, config, created, datetime(2026, 3, 10, 10, 30, tzinfo=SH))
    add_manual_reminder(sessions, tid, datetime(2026, 3, 10, 15, 0, tzinfo=SH), note="call again",
                        now=datetime(2026, 3, 10, 10, 30, tzinfo=SH))
    add_manual_reminder(sessions, tid, datetime(2026, 3, 10, 15, 0, tzinfo=SH), note="same instant twice",
                        now=datetime(2026, 3, 10, 10, 31, tzinfo=SH))
    run_sweeps(sessions, config, datetime(2026, 3, 10, 10, 45, tzinfo=SH), datetime(2026, 3, 14, 0, 0, tzinfo=SH))
    reminders = [n for n in _notes(sessions) if n.kind == "manual_reminder"]
    assert [n.fired_at.astimezone(SH).strftime("%H:%M") for n in reminders] == ["10:00", "15:00"]
    assert all(n.release_at.astimezone(SH).hour >= 9 for n in reminders)  # nothing at 02:00


def test_quiet_hours_hold_a_night_reminder_until_the_next_opening(sessions):
    config = engine_config(targets="P3 = { }")
    created = datetime(2026, 3, 9, 9, 0, tzinfo=SH)
    intake(sessions, config, created, [facts("QH", created)])
    add_manual_reminder(sessions, _task_id(sessions), datetime(2026, 3, 10, 2, 0, tzinfo=SH), note="n", now=created)
    report = sweep(sessions, config, datetime(2026, 3, 10, 2, 0, tzinfo=SH))
    assert report.notifications == 1 and report.messages == 0  # fired, held
    assert sweep(sessions, config, datetime(2026, 3, 10, 8, 59, tzinfo=SH)).messages == 0
    assert sweep(sessions, config, datetime(2026, 3, 10, 9, 0, tzinfo=SH)).messages == 1
    (n,) = _notes(sessions)
    assert n.release_at == datetime(2026, 3, 10, 9, 0, tzinfo=SH)


def test_c25_one_person_in_two_roles_gets_one_message_listing_both(sessions):
    config = engine_config(calendar='timezone = "UTC"\nhours = "mon-sun 00:00-24:00"', ladder="[0, 0, 0]",
                           targets="P3 = { resolve = 1 }", lead="Zhang.Wei@Example.com",
                           extra='operations_manager = { name = "li.na@example.com" }')
    created = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
    intake(sessions, config, created, [facts("C25", created)])
    task_svc.assign(sessions, _task_id(sessions), config=config, assignee="zhang.wei@example.com", actor="lead",
                    at=created)
    sweep(sessions, config, datetime(2026, 6, 1, 9, 30, tzinfo=UTC))
    with sessions() as s:
        messages = s.scalars(select(Outbox).order_by(Outbox.recipient)).all()
    recipients = sorted(m.recipient.lower() for m in messages)
    assert recipients == ["li.na@example.com", "zhang.wei@example.com"]
    zhang = next(m for m in messages if m.recipient.lower() == "zhang.wei@example.com")
    assert "as assignee" in zhang.body and "as lead" in zhang.body


def test_c11_a_wait_that_times_out_closes_once_and_a_late_reply_reopens(sessions):
    config = engine_config(calendar='timezone = "UTC"\nhours = "mon-sun 00:00-24:00"', targets="P3 = { }",
                           customer="P3 = { resolve = 400 }")
    created = datetime(2026, 3, 30, 10, 0, tzinfo=UTC)
    from closeloop.domain.customer import ContactPoint, CustomerProfile

    ann = CustomerProfile("Ann", "en", "UTC", (ContactPoint("email", "ann@example.com", consent=True),))
    (cid,) = intake(sessions, config, created, [facts("C11", created, customer_ref="ann", customer=ann)])
    task_svc.start(sessions, _task_id(sessions), config=config, actor="agent", at=created)
    lifecycle.await_customer(sessions, cid, config=config, reason="waiting for the invoice", actor="agent",
                             at=datetime(2026, 4, 1, 10, 0, tzinfo=UTC), until=datetime(2026, 4, 8, 10, 0, tzinfo=UTC))
    run_sweeps(sessions, config, datetime(2026, 4, 1, 10, 0, tzinfo=UTC), datetime(2026, 4, 8, 9, 45, tzinfo=UTC),
               every=timedelta(hours=6))
    with sessions() as s:
        assert s.get(Complaint, cid).status == "awaiting_customer"
    for _ in range(2):
        sweep(sessions, config, datetime(2026, 4, 8, 10, 0, tzinfo=UTC))
    with sessions() as s:
        c = s.get(Complaint, cid)
        assert c.status == "closed"
        # the customer is told once, by their own mail (not a staff digest line for "customer"), and not "resolved"
        assert s.scalars(select(Outbox).where(Outbox.recipient == "customer")).all() == []
        told = {o.idempotency_key.split(":")[1]: o for o in s.scalars(
            select(Outbox).where(Outbox.idempotency_key.like(f"customer:%:{cid}%")))}
        assert sorted(told) == ["acknowledged", "closed", "waiting"]
        assert "did not hear back" in told["closed"].body and "waiting for the invoice" in told["closed"].body
        assert (told["closed"].channel, told["closed"].target) == ("email", "ann@example.com")
    add_message(sessions, cid, config=config, direction="inbound", body="sorry, here is the invoice",
                author="customer", channel="email", at=datetime(2026, 4, 9, 8, 0, tzinfo=UTC))
    sweep(sessions, config, datetime(2026, 4, 9, 8, 15, tzinfo=UTC))
    with sessions() as s:
        c = s.get(Complaint, cid)
        assert (c.status, c.reopen_count) == ("reopened", 1)


@pytest.mark.parametrize("max_hours, until_days, expected_days", [(48, 7, 2), (240, 3, 3)])
def test_a_wait_with_a_maximum_and_an_until_ends_at_the_earlier(sessions, max_hours, until_days, expected_days):
    from closeloop.services.engine.schedule import wanted_timers

    config = engine_config(calendar='timezone = "UTC"\nhours = "mon-sun 00:00-24:00"', targets="P3 = { }",
                           customer="P3 = { resolve = 400 }")
    at = datetime(2026, 4, 1, 10, 0, tzinfo=UTC)
    (cid,) = intake(sessions, config, at, [facts("W2", at)])
    task_svc.start(sessions, _task_id(sessions), config=config, actor="agent", at=at)
    lifecycle.await_customer(sessions, cid, config=config, reason="waiting", actor="agent", at=at,
                             max_business_hours=max_hours, until=at + timedelta(days=until_days))
    with sessions() as s:
        ends = [w for w in wanted_timers(s, s.get(Complaint, cid), config, at) if w.kind == "pause_expired"]
    assert [w.fire_at for w in ends] == [at + timedelta(days=expected_days)]  # one timer: neither limit is lost


def test_pausing_a_task_cancels_its_reminders_and_resuming_moves_them(sessions):
    config = engine_config()
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    intake(sessions, config, created, [facts("P1", created)])
    tid = _task_id(sessions)
    task_svc.start(sessions, tid, config=config, actor="a", at=datetime(2026, 3, 2, 9, 30, tzinfo=SH))
    task_svc.pause(sessions, tid, config=config, reason="waiting for the bank", actor="a",
                   at=datetime(2026, 3, 2, 11, 0, tzinfo=SH))
    run_sweeps(sessions, config, datetime(2026, 3, 2, 11, 0, tzinfo=SH), datetime(2026, 3, 3, 11, 0, tzinfo=SH))
    assert [n.kind for n in _notes(sessions)] == []  # nothing while waiting
    task_svc.resume(sessions, tid, config=config, actor="a", at=datetime(2026, 3, 3, 11, 0, tzinfo=SH))
    run_sweeps(sessions, config, datetime(2026, 3, 3, 11, 0, tzinfo=SH), datetime(2026, 3, 3, 14, 0, tzinfo=SH))
    (r50,) = [t for t in _timers(sessions, kind="reminder") if t.key.endswith(":50")]
    # 2 h used before the pause; 4 h mark = 2 business hours after resuming
    assert r50.fire_at == datetime(2026, 3, 3, 13, 0, tzinfo=SH) and r50.status == "fired"


def test_follow_up_task_after_resolution_and_not_satisfied_reopens(sessions):
    config = engine_config(extra="", targets="P3 = { }")
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    (cid,) = intake(sessions, config, created, [facts("F1", created)])
    task_svc.complete(sessions, _task_id(sessions), config=config, actor="a", root_cause="process_gap",
                      at=datetime(2026, 3, 2, 16, 0, tzinfo=SH), outcome="refund issued")
    run_sweeps(sessions, config, datetime(2026, 3, 2, 16, 0, tzinfo=SH), datetime(2026, 3, 6, 10, 0, tzinfo=SH),
               every=timedelta(hours=1))
    with sessions() as s:
        fu = s.scalars(select(Task).where(Task.kind == "follow-up")).all()
        assert len(fu) == 1 and fu[0].department == "service"
        assert fu[0].created_at == datetime(2026, 3, 5, 9, 0, tzinfo=SH)  # 3 business days (P3), at opening
    lifecycle.record_follow_up(sessions, fu[0].id, config=config, satisfied=False, note="refund never arrived",
                               actor="svc", at=datetime(2026, 3, 5, 10, 0, tzinfo=SH))
    with sessions() as s:
        c = s.get(Complaint, cid)
        assert (c.status, c.reopen_count) == ("reopened", 1)
        (work,) = s.scalars(select(Task).where(Task.complaint_id == cid, Task.status == "open")).all()
    # issue 16: the first verdict stays the complaint's; the later one is stored beside it
    task_svc.complete(sessions, work.id, config=config, actor="a", root_cause="process_gap",
                      at=datetime(2026, 3, 5, 15, 0, tzinfo=SH), outcome="refund re-sent")
    run_sweeps(sessions, config, datetime(2026, 3, 5, 15, 0, tzinfo=SH), datetime(2026, 3, 11, 10, 0, tzinfo=SH),
               every=timedelta(hours=1))
    with sessions() as s:
        second = s.scalars(select(Task).where(Task.kind == "follow-up", Task.status == "open")).one()
    lifecycle.record_follow_up(sessions, second.id, config=config, satisfied=True, note="arrived",
                               actor="svc", at=datetime(2026, 3, 11, 10, 0, tzinfo=SH))
    with sessions() as s:
        c = s.get(Complaint, cid)
        assert (c.status, c.customer_satisfied) == ("closed", False)
        verdicts = [t.data for t in s.scalars(select(Transition).where(
            Transition.complaint_id == cid, Transition.trigger == "follow_up").order_by(Transition.id))]
        assert [(v["satisfied"], v["first_verdict"]) for v in verdicts] == [(False, True), (True, False)]


def test_too_many_transfers_escalate_to_the_operations_manager_with_reasons(sessions):
    config = engine_config(targets="P3 = { }")
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    intake(sessions, config, created, [facts("T1", created)])
    tid = _task_id(sessions)
    for i, (to, why) in enumerate([("product", "a product rule"), ("service", "needs a call"),
                                   ("product", "back again")]):
        tid = task_svc.transfer(sessions, tid, config=config, to=to, reason=why, actor="x",
                                at=created + timedelta(minutes=10 * (i + 1))).id
        sweep(sessions, config, created + timedelta(minutes=10 * (i + 1)))
    (n,) = [n for n in _notes(sessions) if n.kind == "transfers"]
    assert n.role == "operations_manager"
    assert "a product rule / needs a call / back again" in n.data["text"]


def test_c15_priority_change_stops_escalating_and_keeps_the_sent_one(sessions):
    config = parse_config(engine_config(targets="P1 = { resolve = 3 }\nP3 = { resolve = 24 }",
                                        ladder="[0, 40, 80, 120]").text.replace(
        'name = "billing"\n', 'name = "billing"\nseverity = "P1"\n'), "c15")
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    (cid,) = intake(sessions, config, created, [facts("C15e", created)])
    run_sweeps(sessions, config, created, datetime(2026, 3, 2, 12, 0, tzinfo=SH))
    (first,) = [n for n in _notes(sessions) if n.kind == "escalation"]
    assert first.fired_at == datetime(2026, 3, 2, 12, 0, tzinfo=SH) and first.level == 1
    lifecycle.reprioritize(sessions, cid, "P3", config=config, reason="not urgent after all", actor="lead",
                           at=datetime(2026, 3, 2, 14, 0, tzinfo=SH))
    with sessions() as s:
        assert s.scalar(select(Task.due_at)) == datetime(2026, 3, 4, 15, 0, tzinfo=SH)
    run_sweeps(sessions, config, datetime(2026, 3, 2, 14, 0, tzinfo=SH), datetime(2026, 3, 4, 14, 45, tzinfo=SH))
    escalations = [n for n in _notes(sessions) if n.kind == "escalation"]
    assert [e.key for e in escalations] == [first.key]  # none new before Wed 15:00
    with sessions() as s:  # the 12:00 escalation stays in history
        assert s.scalar(select(Timer.status).where(Timer.key == first.key)) == "fired"


def test_the_crisis_owner_hears_only_of_severe_or_exposed_complaints(sessions):
    """Issue 16: by default (``crisis_severities`` P1/P2, ``crisis_risk_flags`` public_exposure) a P3
    complaint's ladder stops at the operations manager; public exposure starts at the lead and reaches the
    crisis owner; raising the severity to P1 adds level 4 at the next sweep."""
    config = engine_config(targets="\n".join(f"P{i} = {{ acknowledge = 2, resolve = 8 }}" for i in range(1, 5)),
                           crisis="")
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    plain, exposed = intake(sessions, config, created, [facts("G1", created),
                                                         facts("G2", created, channel="twitter")])
    sweep(sessions, config, created)

    def levels(cid):
        with sessions() as s:
            rows = s.scalars(select(Timer).where(Timer.complaint_id == cid, Timer.status == "pending",
                                                 Timer.kind.in_(("escalation", "promise")))).all()
            return sorted({(t.kind, t.data["level"]) for t in rows})

    with sessions() as s:
        assert s.get(Complaint, plain).severity == "P3" and "public_exposure" in s.get(Complaint, exposed).risk_flags
        assert s.get(Complaint, exposed).severity == "P2"  # triage raises public exposure
    assert [lv for k, lv in levels(plain) if k == "escalation"] == [1, 2, 3]
    assert [lv for k, lv in levels(exposed) if k == "escalation"] == [2, 3, 4]
    assert ("promise", 4) not in levels(plain)
    lifecycle.reprioritize(sessions, plain, "P1", config=config, reason="a regulator asked", actor="lead",
                           at=datetime(2026, 3, 2, 9, 30, tzinfo=SH))
    sweep(sessions, config, datetime(2026, 3, 2, 9, 30, tzinfo=SH))
    assert [lv for k, lv in levels(plain) if k == "escalation"] == [1, 2, 3, 4]


@pytest.mark.parametrize(("crisis", "exposed_levels"), [
    ('crisis_severities = ["P1"]', [2, 3, 4]),                           # by the flag alone
    ('crisis_severities = ["P1"]\ncrisis_risk_flags = []', [2, 3]),      # neither: stops at the manager
])
def test_the_crisis_rule_is_severity_or_flag(sessions, crisis, exposed_levels):
    config = engine_config(targets="\n".join(f"P{i} = {{ acknowledge = 2, resolve = 8 }}" for i in range(1, 5)),
                           crisis=crisis)
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    (exposed,) = intake(sessions, config, created, [facts("G3", created, channel="twitter")])
    sweep(sessions, config, created)
    with sessions() as s:
        rows = s.scalars(select(Timer).where(Timer.complaint_id == exposed, Timer.kind == "escalation")).all()
    assert sorted(t.data["level"] for t in rows) == exposed_levels


def test_a_manual_reminder_in_the_past_is_refused_naming_at(sessions):
    config = engine_config(targets="P3 = { }")
    created = datetime(2026, 3, 9, 9, 0, tzinfo=SH)
    intake(sessions, config, created, [facts("PAST", created)])
    with pytest.raises(InvalidInput) as e:
        add_manual_reminder(sessions, _task_id(sessions), created - timedelta(minutes=1), note="n", now=created)
    assert e.value.field == "at" and "is in the past" in e.value.problem
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Timer).where(Timer.kind == "manual_reminder")) == 0
    add_manual_reminder(sessions, _task_id(sessions), created, note="now", now=created)  # now: at once
    assert sweep(sessions, config, created).notifications == 1
