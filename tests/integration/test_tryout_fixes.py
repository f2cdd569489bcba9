"""Regressions found by a new user trying to break the tool (each reproduced first)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from closeloop.domain.errors import InvalidInput, MergeRejected
from closeloop.services.engine.sweep import sweep
from closeloop.services.work import complaints as complaint_svc
from closeloop.services.work import lifecycle
from closeloop.services.work import tasks as task_svc
from integrations.exports import UnknownFormat
from models.tables import Complaint, Task, Timer

from .helpers import facts, intake, run_import
from .test_sweep import engine_config

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=SH)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1e300, -5.0])
def test_a_wait_maximum_must_be_a_finite_number(sessions, bad):
    config = engine_config()
    (cid,) = intake(sessions, config, T0, [facts("W", T0)])
    task_svc.start(sessions, _tasks(sessions, cid)[0].id, config=config, actor="a", at=T0)
    with pytest.raises(InvalidInput, match="max_business_hours"):
        lifecycle.await_customer(sessions, cid, config=config, reason="r", actor="a", at=T0, max_business_hours=bad)
    sweep(sessions, config, T0 + timedelta(hours=1))  # and the sweep keeps working


def _tasks(sessions, cid):
    with sessions() as s:
        return s.scalars(select(Task).where(Task.complaint_id == cid).order_by(Task.id)).all()


def test_after_a_merge_the_moved_tasks_keep_their_reminders(sessions):
    config = engine_config()
    a, b = intake(sessions, config, T0, [facts("A", T0, product="x"), facts("B", T0 + timedelta(minutes=5))])
    sweep(sessions, config, T0 + timedelta(minutes=10))
    task_svc.transfer(sessions, _tasks(sessions, b)[0].id, config=config, to="product", reason="other dept",
                      actor="x", at=T0 + timedelta(minutes=20))
    complaint_svc.merge(sessions, b, a, config=config, reason="same", actor="x", at=T0 + timedelta(minutes=30))
    sweep(sessions, config, T0 + timedelta(minutes=40))
    with sessions() as s:
        assert s.get(Complaint, a).timers_dirty is False  # rescheduled, not stuck
        moved = [t for t in _tasks(sessions, a) if t.department == "product"][0]
        pending = s.scalars(select(Timer.key).where(Timer.task_id == moved.id, Timer.status == "pending")).all()
    assert f"reminder:{moved.id}:50" in pending and f"escalation:{moved.id}:1" in pending


def test_no_merge_of_open_work_into_a_closed_complaint_and_resolve_cancels_every_active_task(sessions):
    config = engine_config()
    a, b = intake(sessions, config, T0, [facts("A2", T0), facts("B2", T0)])
    ta = _tasks(sessions, a)[0]
    task_svc.complete(sessions, ta.id, config=config, actor="x", at=T0 + timedelta(hours=1),
                      root_cause="process_gap")
    lifecycle.close(sessions, a, config=config, reason="done", actor="x", at=T0 + timedelta(hours=2))
    with pytest.raises(MergeRejected, match="reopen"):
        complaint_svc.merge(sessions, b, a, config=config, reason="same", actor="x", at=T0 + timedelta(hours=3))
    tb = _tasks(sessions, b)[0]
    task_svc.start(sessions, tb.id, config=config, actor="x", at=T0)
    task_svc.pause(sessions, tb.id, config=config, reason="vendor", actor="x", at=T0 + timedelta(minutes=5))
    lifecycle.resolve(sessions, b, config=config, reason="sorted by phone", actor="x", at=T0 + timedelta(hours=1),
                      root_cause="information")
    assert [t.status for t in _tasks(sessions, b)] == ["cancelled"]


def test_cancelling_every_task_sends_the_complaint_back_to_triage(sessions):
    config = engine_config()
    (cid,) = intake(sessions, config, T0, [facts("C", T0)])
    task_svc.cancel(sessions, _tasks(sessions, cid)[0].id, config=config, reason="wrong dept", actor="x", at=T0)
    tasks = _tasks(sessions, cid)
    assert [(t.department, t.status) for t in tasks] == [("service", "cancelled"), ("triage", "open")]


def test_files_that_are_not_utf8_or_repeat_a_column_are_clear_errors(sessions, config, clock, tmp_path):
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("external_ref,received_at,category\nL1,2026-03-02T09:00:00Z,caf\xe9\n".encode("latin-1"))
    with pytest.raises(UnknownFormat, match="not UTF-8"):
        run_import(sessions, config, clock, latin)
    dup = tmp_path / "dup.csv"
    dup.write_text("external_ref,received_at,text,text\nD1,2026-03-02T09:00:00Z,first,second\n", "utf-8")
    with pytest.raises(UnknownFormat, match="duplicated column.*text"):
        run_import(sessions, config, clock, dup)


def test_first_response_stops_at_the_first_answer_to_the_customer(sessions):
    """Issue 13: the first response is what the customer hears; an internal acknowledge or a wait does not stop it."""
    from closeloop.services.engine.clocks import complaint_clocks
    from closeloop.services.work.messages import add_message

    config = engine_config(customer="P3 = { acknowledge = 8, resolve = 40 }")
    (cid,) = intake(sessions, config, T0, [facts("FR", T0)])
    task_svc.acknowledge(sessions, _tasks(sessions, cid)[0].id, config=config, actor="a", at=T0 + timedelta(hours=1))
    lifecycle.await_customer(sessions, cid, config=config, reason="r", actor="a", at=T0 + timedelta(hours=2))

    def first_response(at):
        with sessions() as s:
            return next(v.clock for v in complaint_clocks(s, s.get(Complaint, cid), config, at)
                        if v.clock.name == "first_response")

    assert first_response(T0 + timedelta(hours=3)).stopped_at is None
    add_message(sessions, cid, config=config, direction="outbound", body="called back", author="a",
                at=T0 + timedelta(hours=3), channel="phone")
    fr = first_response(T0 + timedelta(hours=4))
    assert fr.stopped_at == (T0 + timedelta(hours=3)).astimezone(UTC) and fr.status == "met"
