"""Issue 13, slice 5: promises to the customer as commitments (SQLite and PostgreSQL).

A promise is made (who, what, by when on the department's calendar), reminded before it is due,
broken and escalated to the lead at the due instant (once, however often the sweep runs), kept only
with evidence (a recorded contact or a finished action of the promising department), and counted
per department for the monthly review.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from closeloop.domain.errors import IllegalTransition, InvalidInput, NotFound
from closeloop.services.customers.promises import keep_promise, make_promise, promise_figures, promises_of
from closeloop.services.engine.sweep import sweep
from closeloop.services.work import tasks as task_svc
from closeloop.services.work.messages import add_message
from models.tables import Notification, Promise, Task, Transition

from .helpers import facts, intake

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 New York (the default calendar)


def _complaint(sessions, config, ref="P-1"):
    (cid,) = intake(sessions, config, T0, [facts(ref, T0, product="Mortgage", category="Mortgage")])
    return cid


def _notes(sessions, prefix):
    with sessions() as s:
        return s.scalars(select(Notification).where(Notification.key.like(prefix + "%"))).all()


def test_a_promise_is_due_on_the_department_calendar_and_refuses_bad_input(sessions, config):
    cid = _complaint(sessions, config)
    p = make_promise(sessions, config, cid, department="product", kind="call_back", business_hours=10,
                     description="call back about the escrow", person="Wang Li", actor="agent", at=T0)
    # 10 business hours from Monday 10:00 (09:00-17:00): 7 on Monday, 3 on Tuesday -> Tuesday 12:00 New York
    assert p.due_at == datetime(2026, 3, 3, 17, 0, tzinfo=UTC) and p.status == "open"
    with sessions() as s:
        (audit,) = s.scalars(select(Transition).where(Transition.entity == "promise")).all()
        assert (audit.trigger, audit.to_state, audit.data["kind"]) == ("make", "open", "call_back")
        assert "escrow" not in str(audit.data) and "Wang" not in str(audit.data)
    for kw, field in ((dict(department="nope", kind="refund", business_hours=1), "department"),
                      (dict(department="product", kind="hope", business_hours=1), "kind"),
                      (dict(department="product", kind="refund"), "due"),
                      (dict(department="product", kind="refund", due=T0 - timedelta(hours=1)), "due"),
                      (dict(department="product", kind="refund", business_hours=-2), "business_hours")):
        with pytest.raises(InvalidInput) as exc:
            make_promise(sessions, config, cid, actor="a", at=T0, **kw)
        assert exc.value.field == field
    assert len(promises_of(sessions, cid)) == 1


def test_reminded_then_broken_and_escalated_once_then_kept_late_by_a_recorded_call(sessions, config):
    cid = _complaint(sessions, config)
    p = make_promise(sessions, config, cid, department="product", kind="call_back", business_hours=7,
                     actor="agent", at=T0)  # due Monday 17:00 New York = 22:00 UTC
    sweep(sessions, config, p.due_at - timedelta(hours=5))
    assert _notes(sessions, "promise-") == []  # not yet within the 4 hours before
    for _ in range(2):
        sweep(sessions, config, p.due_at - timedelta(hours=3))
    (reminder,) = _notes(sessions, "promise-reminder:")
    assert (reminder.department, reminder.role) == ("product", "assignee")
    for _ in range(2):
        sweep(sessions, config, p.due_at + timedelta(minutes=1))
    (broken,) = _notes(sessions, "promise-broken:")
    assert (broken.role, broken.level) == ("lead", 2)
    with sessions() as s:
        assert s.get(Promise, p.id).status == "broken"
    call = add_message(sessions, cid, config=config, direction="outbound", body="called back", author="agent",
                       at=p.due_at + timedelta(hours=1), channel="phone")
    kept = keep_promise(sessions, p.id, actor="agent", at=p.due_at + timedelta(hours=1), message_id=call.id)
    assert kept.status == "kept" and kept.kept_by_message_id == call.id
    with pytest.raises(IllegalTransition):
        keep_promise(sessions, p.id, actor="agent", at=p.due_at + timedelta(hours=2), contact="again")
    with sessions() as s:
        figures = promise_figures(s, T0, T0 + timedelta(days=30), T0 + timedelta(days=30))
    assert figures == {"product": {"made": 1, "kept": 0, "kept_late": 1, "broken": 0, "open": 0, "cancelled": 0}}
    with sessions() as s:  # as of the breach, before the call, the same month counted it broken
        assert promise_figures(s, T0, T0 + timedelta(days=30), p.due_at + timedelta(minutes=30))["product"][
            "broken"] == 1


def test_a_promise_is_kept_only_by_evidence(sessions, config):
    cid = _complaint(sessions, config)
    other = _complaint(sessions, config, "P-2")
    p = make_promise(sessions, config, cid, department="operations", kind="send_document", business_hours=16,
                     actor="agent", at=T0 + timedelta(hours=1))
    early = add_message(sessions, cid, config=config, direction="outbound", body="before", author="a", at=T0,
                        channel="phone")
    inbound = add_message(sessions, cid, config=config, direction="inbound", body="hi", author="customer",
                          at=T0 + timedelta(hours=2))
    elsewhere = add_message(sessions, other, config=config, direction="outbound", body="x", author="a",
                            at=T0 + timedelta(hours=2), channel="phone")
    for mid in (early.id, inbound.id, elsewhere.id):
        with pytest.raises(InvalidInput, match="message"):
            keep_promise(sessions, p.id, actor="a", at=T0 + timedelta(hours=3), message_id=mid)
    with pytest.raises(InvalidInput, match="evidence"):
        keep_promise(sessions, p.id, actor="a", at=T0 + timedelta(hours=3))
    with sessions() as s:
        ops = s.scalar(select(Task.id).where(Task.complaint_id == cid, Task.department == "operations"))
        prod = s.scalar(select(Task.id).where(Task.complaint_id == cid, Task.department == "product"))
    with pytest.raises(InvalidInput, match="task"):  # not finished yet
        keep_promise(sessions, p.id, actor="a", at=T0 + timedelta(hours=3), task_id=ops)
    task_svc.complete(sessions, prod, config=config, actor="p", at=T0 + timedelta(hours=3), outcome="done")
    with pytest.raises(InvalidInput, match="task"):  # another department's action
        keep_promise(sessions, p.id, actor="a", at=T0 + timedelta(hours=3), task_id=prod)
    task_svc.complete(sessions, ops, config=config, actor="o", at=T0 + timedelta(hours=4), outcome="sent")
    kept = keep_promise(sessions, p.id, actor="a", at=T0 + timedelta(hours=4), task_id=ops)
    assert kept.status == "kept" and kept.kept_by_task_id == ops
    sweep(sessions, config, T0 + timedelta(days=5))
    assert _notes(sessions, "promise-broken:") == []
    with sessions() as s:
        assert promise_figures(s, T0, T0 + timedelta(days=30), T0 + timedelta(days=30))["operations"]["kept"] == 1


def test_a_promise_follows_its_complaint_into_a_merge_and_is_kept_by_what_moved_with_it(sessions, config):
    """Merging the complaint a promise was made on left the promise behind: not listed on the survivor, not
    keepable by the task or contact that moved there, then broken by the sweep and escalated."""
    from closeloop.services.work.complaints import merge

    survivor, dup = _complaint(sessions, config, "P-1"), _complaint(sessions, config, "P-2")
    p = make_promise(sessions, config, dup, department="product", kind="call_back", business_hours=7,
                     actor="agent", at=T0)
    merge(sessions, dup, survivor, config=config, reason="same", actor="lead", at=T0 + timedelta(minutes=5))
    with sessions() as s:  # the survivor's product task (the duplicate's, the same work, was cancelled)
        (product_task,) = s.scalars(select(Task.id).where(Task.complaint_id == survivor, Task.department == "product",
                                                          Task.status == "open"))
    assert [q.id for q in promises_of(sessions, survivor)] == [p.id]
    assert promises_of(sessions, dup) == []
    task_svc.acknowledge(sessions, product_task, config=config, actor="agent", at=T0 + timedelta(minutes=10))
    task_svc.complete(sessions, product_task, config=config, actor="agent", at=T0 + timedelta(minutes=20),
                      outcome="called the customer")
    kept = keep_promise(sessions, p.id, actor="agent", at=T0 + timedelta(minutes=30), task_id=product_task)
    assert (kept.status, kept.complaint_id, kept.kept_by_task_id) == ("kept", survivor, product_task)
    sweep(sessions, config, p.due_at + timedelta(minutes=1))
    assert _notes(sessions, "promise-broken:") == []


def test_a_reminder_held_for_working_hours_is_dropped_when_the_promise_was_kept_meanwhile(sessions, config):
    """The reminder fired at 06:30 New York waits for 09:00 to be sent; the promise kept at 07:00 means nothing is
    due soon any more: at release the reminder is dropped (``promise_settled``), not sent."""
    cid = _complaint(sessions, config)
    due = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # Wednesday 10:00 New York
    p = make_promise(sessions, config, cid, department="product", kind="call_back", due=due, actor="agent", at=T0)
    sweep(sessions, config, datetime(2026, 3, 4, 11, 30, tzinfo=UTC))  # 06:30: fired, held until 09:00
    (held,) = _notes(sessions, "promise-reminder:")
    assert held.status == "pending"
    keep_promise(sessions, p.id, actor="agent", at=datetime(2026, 3, 4, 12, 0, tzinfo=UTC), contact="called back")
    sweep(sessions, config, datetime(2026, 3, 4, 14, 5, tzinfo=UTC))  # 09:05: released
    (reminder,) = _notes(sessions, "promise-reminder:")
    assert (reminder.status, reminder.dropped_reason) == ("dropped", "promise_settled")
    other = make_promise(sessions, config, cid, department="product", kind="call_back",
                         due=datetime(2026, 3, 5, 15, 0, tzinfo=UTC), actor="agent", at=T0)
    sweep(sessions, config, datetime(2026, 3, 5, 11, 30, tzinfo=UTC))
    sweep(sessions, config, datetime(2026, 3, 5, 14, 5, tzinfo=UTC))  # an open promise's reminder still goes
    assert [n.status for n in _notes(sessions, f"promise-reminder:{other.id}")] == ["packed"]


def test_the_promises_of_an_unknown_complaint_are_not_found_not_none(sessions, config):
    """``closeloop promises list 99999`` printed an empty table (exit 0), read as "no promise made"; the API's
    ``GET /complaints/99999/promises`` was already a 404."""
    cid = _complaint(sessions, config)
    assert promises_of(sessions, cid) == []
    with pytest.raises(NotFound):
        promises_of(sessions, cid + 1)
