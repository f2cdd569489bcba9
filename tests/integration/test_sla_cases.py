"""CASES.md kinds K3 (pause/hold) and K4 (lifecycle) through the services, with their right values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from closeloop.config import parse_config
from closeloop.services.engine.clocks import complaint_clocks, task_clocks
from closeloop.services.work import lifecycle
from closeloop.services.work import tasks as task_svc
from closeloop.services.work.messages import add_message
from models.tables import Complaint, Task

from .helpers import facts, intake

SH = ZoneInfo("Asia/Shanghai")
BER = ZoneInfo("Europe/Berlin")


def cfg(calendar: str, sla: str, departments=("service", "product", "triage")) -> object:
    deps = "\n".join(f'[departments.{d}]\ndisplay_name = "{d}"\n' for d in departments)
    return parse_config(f"""
{deps}
{calendar}
{sla}
[[rules]]
name = "to-service"
[rules.when]
category = ["billing"]
[[rules.tasks]]
department = "service"
kind = "handle"
title = "Handle it"
[fallback]
[[fallback.tasks]]
department = "triage"
kind = "triage"
title = "Route by hand"
""", "test-config")


CN = '[calendars.default]\ntimezone = "Asia/Shanghai"\nhours = "mon-fri 09:00-18:00"\ncountry = "CN"\n'
BERLIN = ('[calendars.default]\ntimezone = "Europe/Berlin"\nhours = "mon-fri 09:00-17:00"\ncountry = "DE"\n'
          'subdivision = "BE"\n')


def _clock(views, name):
    return next(v.clock for v in views if v.clock.name == name)


def _complaint_clock(sessions, config, cid, name, now):
    with sessions() as s:
        return _clock(complaint_clocks(s, s.get(Complaint, cid), config, now), name)


def _task(sessions, cid):
    with sessions() as s:
        return s.scalars(select(Task).where(Task.complaint_id == cid).order_by(Task.id)).all()[-1]


def test_c09_waiting_on_the_customer_extends_due_by_business_time(sessions):
    config = cfg(CN, "[sla.customer]\nP3 = { resolve = 8 }\n")
    created = datetime(2026, 3, 5, 10, 0, tzinfo=SH)
    (cid,) = intake(sessions, config, created, [facts("C09", created)])
    task_svc.start(sessions, _task(sessions, cid).id, config=config, actor="agent", at=created)
    lifecycle.await_customer(sessions, cid, config=config, reason="need the receipt", actor="agent",
                             at=datetime(2026, 3, 5, 14, 0, tzinfo=SH))
    during = datetime(2026, 3, 6, 10, 0, tzinfo=SH)
    paused = _complaint_clock(sessions, config, cid, "resolve", during)
    assert paused.status == "paused" and paused.due_at is None and not paused.breached
    with sessions() as s:
        assert s.get(Complaint, cid).due_at is None  # nothing for the sweep to remind or escalate
    add_message(sessions, cid, config=config, direction="inbound", body="here it is", author="customer",
                channel="email", at=datetime(2026, 3, 6, 16, 0, tzinfo=SH))
    clock = _complaint_clock(sessions, config, cid, "resolve", datetime(2026, 3, 6, 17, 0, tzinfo=SH))
    assert clock.paused == timedelta(hours=11)
    assert clock.due_at == datetime(2026, 3, 9, 11, 0, tzinfo=SH)  # Mon 11:00 CST = 03:00Z
    assert clock.due_at != datetime(2026, 3, 5, 18, 0, tzinfo=SH)  # pause ignored
    assert clock.due_at != datetime(2026, 3, 6, 20, 0, tzinfo=SH)  # extended by wall-clock time
    with sessions() as s:
        assert s.get(Complaint, cid).due_at == datetime(2026, 3, 9, 3, 0, tzinfo=UTC)
        assert s.get(Complaint, cid).status == "in_progress"


def test_k3_leaving_a_pause_straight_to_resolved_still_counts_it(sessions):
    config = cfg(CN, "[sla.customer]\nP3 = { resolve = 8 }\n")
    created = datetime(2026, 3, 5, 10, 0, tzinfo=SH)
    (cid,) = intake(sessions, config, created, [facts("K3b", created)])
    task_svc.start(sessions, _task(sessions, cid).id, config=config, actor="a", at=created)
    lifecycle.await_customer(sessions, cid, config=config, reason="r", actor="a",
                             at=datetime(2026, 3, 5, 14, 0, tzinfo=SH))
    lifecycle.resolve(sessions, cid, config=config, reason="customer confirmed by phone", actor="a",
                      root_cause="information", at=datetime(2026, 3, 9, 10, 0, tzinfo=SH))
    clock = _complaint_clock(sessions, config, cid, "resolve", datetime(2026, 3, 9, 12, 0, tzinfo=SH))
    assert clock.status == "met" and clock.elapsed == timedelta(hours=4)
    assert clock.paused == timedelta(hours=4 + 9 + 1)  # Thu 14-18, Fri, Mon 09-10
    assert clock.due_at == datetime(2026, 3, 9, 14, 0, tzinfo=SH)  # Thu 10:00 + (8 + 14) business hours


def test_k3_reopen_counts_resolved_time_as_paused_and_is_not_overdue_at_once(sessions):
    config = cfg(CN, "[sla.customer]\nP3 = { resolve = 8 }\n")
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    (cid,) = intake(sessions, config, created, [facts("RE", created)])
    t = _task(sessions, cid)
    task_svc.complete(sessions, t.id, config=config, actor="a", at=datetime(2026, 3, 2, 15, 0, tzinfo=SH),
                      root_cause="process_gap")
    with sessions() as s:
        assert s.get(Complaint, cid).status == "resolved"
    add_message(sessions, cid, config=config, direction="inbound", body="still broken", author="customer",
                channel="chat", at=datetime(2026, 3, 9, 10, 0, tzinfo=SH))
    with sessions() as s:
        c = s.get(Complaint, cid)
        assert c.status == "reopened" and c.reopen_count == 1
    clock = _complaint_clock(sessions, config, cid, "resolve", datetime(2026, 3, 9, 10, 0, tzinfo=SH))
    assert clock.elapsed == timedelta(hours=6) and not clock.breached
    assert clock.due_at == datetime(2026, 3, 9, 12, 0, tzinfo=SH)  # 2 business hours left from the reopen


def test_c12_customer_reply_on_any_channel_restarts_the_update_clock(sessions):
    config = cfg(BERLIN, "[sla.customer]\nP3 = { resolve = 40, update = 2 }\n")
    for i, channel in enumerate(("web portal", "email", "chat", "api")):
        created = datetime(2026, 3, 9, 9, 0, tzinfo=BER)
        (cid,) = intake(sessions, config, created, [facts(f"C12-{i}", created, text="my bill is wrong")])
        task_svc.start(sessions, _task(sessions, cid).id, config=config, actor="agent", at=created)
        add_message(sessions, cid, config=config, direction="outbound", body="please send the invoice",
                    author="agent", at=datetime(2026, 3, 10, 10, 0, tzinfo=BER))
        lifecycle.await_customer(sessions, cid, config=config, reason="invoice", actor="agent",
                                 at=datetime(2026, 3, 10, 10, 0, tzinfo=BER))
        add_message(sessions, cid, config=config, direction="inbound", body="attached", author="customer",
                    channel=channel, at=datetime(2026, 3, 10, 16, 0, tzinfo=BER))
        with sessions() as s:
            assert s.get(Complaint, cid).status == "in_progress"  # "awaiting agent"
        update = _complaint_clock(sessions, config, cid, "update", datetime(2026, 3, 10, 16, 30, tzinfo=BER))
        assert update.due_at == datetime(2026, 3, 11, 10, 0, tzinfo=BER)
        assert update.due_at.astimezone(UTC) == datetime(2026, 3, 11, 9, 0, tzinfo=UTC)
        late = _complaint_clock(sessions, config, cid, "update", datetime(2026, 3, 11, 10, 1, tzinfo=BER))
        assert late.breached  # escalation fires then if the agent has not replied


def test_c13_update_clock_runs_only_while_the_customer_waits(sessions):
    config = cfg(BERLIN, "[sla.customer]\nP3 = { resolve = 40, update = 4 }\n")
    created = datetime(2026, 3, 9, 9, 0, tzinfo=BER)
    (cid,) = intake(sessions, config, created, [facts("C13", created, text="it broke")])
    add_message(sessions, cid, config=config, direction="outbound", body="we are on it", author="agent",
                at=datetime(2026, 3, 9, 9, 30, tzinfo=BER))
    with sessions() as s:
        names = [v.clock.name for v in complaint_clocks(s, s.get(Complaint, cid), config,
                                                         datetime(2026, 3, 9, 13, 30, tzinfo=BER))]
    assert "update" not in names  # update_due = null, nothing to escalate
    add_message(sessions, cid, config=config, direction="inbound", body="any news?", author="customer",
                channel="email", at=datetime(2026, 3, 9, 15, 0, tzinfo=BER))
    update = _complaint_clock(sessions, config, cid, "update", datetime(2026, 3, 9, 15, 0, tzinfo=BER))
    assert update.due_at == datetime(2026, 3, 10, 11, 0, tzinfo=BER)


def test_c15_priority_change_recomputes_due_and_overdue_at_once(sessions):
    config = cfg(CN, "[sla.customer]\nP1 = { resolve = 3 }\nP3 = { resolve = 24 }\n")
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    (cid,) = intake(sessions, config, created, [facts("C15", created, text="my lawyer and the press")])
    with sessions() as s:
        c = s.get(Complaint, cid)
        assert c.severity == "P1" and c.due_at == datetime(2026, 3, 2, 12, 0, tzinfo=SH)
    at_1400 = datetime(2026, 3, 2, 14, 0, tzinfo=SH)
    assert _complaint_clock(sessions, config, cid, "resolve", at_1400).breached
    lifecycle.reprioritize(sessions, cid, "P3", config=config, reason="not a legal case", actor="lead", at=at_1400)
    clock = _complaint_clock(sessions, config, cid, "resolve", at_1400)
    assert clock.due_at == datetime(2026, 3, 4, 15, 0, tzinfo=SH)
    assert not clock.breached and clock.status == "on_track"
    with sessions() as s:
        assert s.get(Complaint, cid).due_at == datetime(2026, 3, 4, 15, 0, tzinfo=SH)  # no second save needed


def test_c16_transfer_re_evaluates_targets_and_reassignment_keeps_due(sessions):
    config = cfg(CN, """
[sla.departments.service]
P3 = { acknowledge = 2, update = 4, resolve = 16 }
[sla.departments.product]
P3 = { acknowledge = 8, resolve = 24 }
""")
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    (cid,) = intake(sessions, config, created, [facts("C16", created, text="wrong fee")])
    service_task = _task(sessions, cid)
    assert service_task.department == "service"
    task_svc.acknowledge(sessions, service_task.id, config=config, actor="svc-agent",
                         at=datetime(2026, 3, 2, 9, 30, tzinfo=SH))
    new = task_svc.transfer(sessions, service_task.id, config=config, to="product", reason="fee rule",
                            actor="svc-agent", at=datetime(2026, 3, 2, 10, 0, tzinfo=SH))
    at_1330 = datetime(2026, 3, 2, 13, 30, tzinfo=SH)
    with sessions() as s:
        views = task_clocks(s, s.get(Task, new.id), config, at_1330)
        assert "update" not in [v.clock.name for v in views]  # update_due = null, no "update overdue"
        assert _clock(views, "resolve").due_at == datetime(2026, 3, 4, 15, 0, tzinfo=SH)
        old = s.get(Task, service_task.id)
        assert old.status == "transferred" and old.due_at is None and old.ack_due_at is None
        assert s.get(Task, new.id).due_at == datetime(2026, 3, 4, 15, 0, tzinfo=SH)
    task_svc.assign(sessions, new.id, config=config, assignee="agent-x", actor="lead",
                    at=datetime(2026, 3, 3, 10, 0, tzinfo=SH))
    task_svc.assign(sessions, new.id, config=config, assignee="agent-y", actor="lead",
                    at=datetime(2026, 3, 3, 11, 0, tzinfo=SH))
    with sessions() as s:
        assert s.get(Task, new.id).due_at == datetime(2026, 3, 4, 15, 0, tzinfo=SH)


def test_c19_our_follow_up_message_does_not_reopen(sessions):
    config = cfg(CN, "[sla.customer]\nP3 = { resolve = 40 }\n")
    created = datetime(2026, 3, 9, 9, 0, tzinfo=SH)
    (cid,) = intake(sessions, config, created, [facts("C19", created)])
    task_svc.complete(sessions, _task(sessions, cid).id, config=config, actor="a", root_cause="process_gap",
                      at=datetime(2026, 3, 11, 16, 0, tzinfo=SH))
    add_message(sessions, cid, config=config, direction="outbound", body="【回访】您的投诉 #1024 已处理完毕",
                author="system", channel="email", at=datetime(2026, 3, 11, 16, 5, tzinfo=SH))
    with sessions() as s:
        c = s.get(Complaint, cid)
        assert (c.status, c.reopen_count, c.due_at) == ("resolved", 0, None)
    clock = _complaint_clock(sessions, config, cid, "resolve", datetime(2026, 3, 12, 9, 0, tzinfo=SH))
    assert clock.stopped_at == datetime(2026, 3, 11, 16, 0, tzinfo=SH) and clock.status == "met"
    from closeloop.services.work.complaints import show

    kinds = [e.kind for e in show(sessions, cid).timeline]
    assert "message:outbound" in kinds


@pytest.mark.parametrize("bad", ["P9", ""])
def test_reprioritize_rejects_bad_input(sessions, bad):
    config = cfg(CN, "")
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    (cid,) = intake(sessions, config, created, [facts("X", created)])
    from closeloop.domain.errors import InvalidInput

    with pytest.raises(InvalidInput):
        lifecycle.reprioritize(sessions, cid, bad, config=config, reason="r", actor="a", at=created)


def test_promise_consumption_shows_which_department_held_the_complaint(sessions):
    from closeloop.services.engine.clocks import promise_consumption

    config = cfg(CN, "[sla.customer]\nP3 = { resolve = 40 }\n")
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    (cid,) = intake(sessions, config, created, [facts("PC", created)])
    t = _task(sessions, cid)
    new = task_svc.transfer(sessions, t.id, config=config, to="product", reason="pricing", actor="a",
                            at=datetime(2026, 3, 2, 12, 0, tzinfo=SH))       # service held it 3 h
    task_svc.complete(sessions, new.id, config=config, actor="p", at=datetime(2026, 3, 3, 15, 0, tzinfo=SH),
                      root_cause="product_defect")
    with sessions() as s:                                                   # product: Mon 12-18 + Tue 9-15 = 12 h
        shares = promise_consumption(s, s.get(Complaint, cid), config, datetime(2026, 3, 4, 9, 0, tzinfo=SH))
    assert [(x.department, x.tasks, x.business_time) for x in shares] == [
        ("product", 1, timedelta(hours=12)), ("service", 1, timedelta(hours=3))]
    assert shares[0].share_of_promise == pytest.approx(12 / 15)
