"""Promises to the customer (issue 13 §5): made, reminded, broken, kept only with evidence; counted.

- :func:`make_promise`: who (department, optional person), what (:class:`PromiseKind`), by when (an
  instant, or business hours from now on the department's calendar). Audited (ids, kind, due only).
- :func:`keep_promise`: kept only by a recorded contact (an outbound message on the complaint at or
  after the promise, or one recorded now with ``contact``) or a finished action (a task of the
  promising department completed at or after the promise).
- :func:`promise_sweep` (every sweep): a reminder to the promising department ``[customers]
  promise_reminder_hours`` (calendar hours) before the due instant, and at the due instant the promise
  is broken and the department lead is told (notification keys ``promise-reminder:<id>``,
  ``promise-broken:<id>``: once each, even when sweeps overlap or catch up after downtime).
- :func:`promise_figures`: made / kept (on time, late) / broken / open per department, for the review.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.domain.complaint import ComplaintStatus
from closeloop.domain.customer import MessageDirection
from closeloop.domain.errors import InvalidInput, NotFound
from closeloop.domain.machine import require_aware
from closeloop.domain.notices import NoticeKind, Role
from closeloop.domain.promise import PromiseKind, PromiseStatus, PromiseTrigger
from closeloop.domain.reasons import SystemReason, system_reason
from closeloop.domain.task import TaskStatus
from closeloop.services.audit import audit_dict
from closeloop.services.engine.notify import insert_notifications, make_item, resolve_role
from closeloop.services.people.users import resolve_recipient
from closeloop.services.reads.as_of import states_at
from closeloop.services.transitions import apply
from closeloop.services.uow import unit_of_work
from closeloop.services.work.complaints import root_of
from models.tables import Complaint, Message, Promise, Task, Transition

MAX_DESCRIPTION = 2000
MAX_CONTACT = 5000  # the note of a contact recorded when a promise is kept


def _due(config: Config, department: str, at: datetime, due: datetime | None, business_hours: float | None) -> datetime:
    if (due is None) == (business_hours is None):
        raise InvalidInput("due", "give either a due instant or business hours from now")
    if business_hours is not None:
        if not 0 < business_hours <= 2000:
            raise InvalidInput("business_hours", "must be greater than 0 and at most 2000 business hours")
        due_at = config.department_calendar(department).add_business_time(at, timedelta(hours=business_hours))
        return due_at.astimezone(UTC)  # the calendar works in its zone; instants are kept and shown in UTC
    assert due is not None  # exactly one of due and business_hours is given (checked above)
    require_aware(due, "due")
    if due <= at:
        raise InvalidInput("due", "must be in the future: a promise cannot be due before it is made")
    return due.astimezone(UTC)


def make_promise(sessions, config: Config, complaint_id: int, *, department: str, kind: str, actor: str,
                 at: datetime, due: datetime | None = None, business_hours: float | None = None,
                 description: str = "", person: str | None = None) -> Promise:
    """Record a promise on ``complaint_id``. ``due``: aware instant; ``business_hours``: on the department's
    calendar from ``at``; the promise's ``due_at`` is UTC either way. A merged complaint takes no promise (as it
    takes no compensation: an obligation is made on the complaint it names, so it is made on the survivor
    knowingly; replies and notes, which only record what was said, land on the survivor). Raises ``InvalidInput``
    naming the field (``department``, ``kind``, ``due``, ``business_hours``, ``description``, ``person``,
    ``complaint``: merged, naming the survivor, or rejected)."""
    if department not in config.departments:
        raise InvalidInput("department", f"unknown department {department!r}")
    try:
        kind = PromiseKind(kind)
    except ValueError:
        raise InvalidInput("kind", f"{kind!r}: use one of {', '.join(k.value for k in PromiseKind)}") from None
    if len(description) > MAX_DESCRIPTION or "\x00" in description:
        raise InvalidInput("description", f"longer than {MAX_DESCRIPTION} characters or contains a NUL")
    if person is not None and (not person.strip() or len(person) > 200):
        raise InvalidInput("person", "must be 1 to 200 characters")
    due_at = _due(config, department, at, due, business_hours)
    with unit_of_work(sessions) as s:
        root = root_of(s, complaint_id)
        if root.id != complaint_id:
            raise InvalidInput("complaint", f"complaint {complaint_id} is merged into complaint {root.id}; "
                                            f"make the promise on complaint {root.id}")
        if root.status in (ComplaintStatus.MERGED, ComplaintStatus.REJECTED):
            raise InvalidInput("complaint", f"complaint {root.id} is {root.status}")
        p = Promise(complaint_id=root.id, department=department, person=person, kind=kind, description=description,
                    due_at=due_at, status=PromiseStatus.OPEN, made_by=actor, made_at=at)
        s.add(p)
        s.flush()
        s.execute(Transition.__table__.insert(),
                  [audit_dict("promise", p.id, root.id, None, PromiseStatus.OPEN, "make", actor, at,
                              data={"department": department, "kind": kind.value, "due": due_at.isoformat()})])
        return p


def _evidence(s: Session, p: Promise, message_id: int | None, task_id: int | None) -> dict:
    if (message_id is None) == (task_id is None):
        raise InvalidInput("evidence", "a promise is kept by one recorded contact (message) or action (task)")
    if message_id is not None:
        m = s.get(Message, message_id)
        if (m is None or m.complaint_id != p.complaint_id or m.direction != MessageDirection.OUTBOUND
                or m.at < p.made_at):
            raise InvalidInput("message", f"message {message_id} is not a contact with the customer of complaint "
                                          f"{p.complaint_id} made after promise {p.id}")
        return {"kept_by_message_id": message_id}
    t = s.get(Task, task_id)
    if t is None or t.complaint_id != p.complaint_id or t.department != p.department or \
            t.status != TaskStatus.DONE or t.updated_at < p.made_at:
        raise InvalidInput("task", f"task {task_id} is not a finished {p.department} task of complaint "
                                   f"{p.complaint_id} completed after promise {p.id}")
    return {"kept_by_task_id": task_id}


def keep_promise(sessions, promise_id: int, *, actor: str, at: datetime, message_id: int | None = None,
                 task_id: int | None = None, contact: str | None = None, channel: str = "phone") -> Promise:
    """Mark a promise kept, with its evidence: ``message_id`` (an outbound message), ``task_id`` (a done task
    of the promising department) or ``contact`` (the text of a contact made now on ``channel``: it is
    recorded as an outbound message and is the evidence). Raises ``NotFound``, ``InvalidInput`` (naming
    the evidence), ``IllegalTransition`` (a kept or cancelled promise)."""
    with unit_of_work(sessions) as s:
        p = s.get(Promise, promise_id)
        if p is None:
            raise NotFound("promise", promise_id)
        if contact is not None:
            if not contact.strip() or len(contact) > MAX_CONTACT:
                raise InvalidInput("contact", f"the contact needs a note of 1 to {MAX_CONTACT} characters")
            m = Message(complaint_id=p.complaint_id, original_complaint_id=p.complaint_id,
                        direction=MessageDirection.OUTBOUND, channel=channel[:64], author=actor[:200], body=contact,
                        at=at)
            s.add(m)
            s.flush()
            message_id = m.id
        evidence = _evidence(s, p, message_id, task_id)
        late = p.status == PromiseStatus.BROKEN
        apply(s, p, PromiseTrigger.KEEP, at=at, actor=actor, data={**evidence, "late": late})
        for k, v in evidence.items():
            setattr(p, k, v)
        return p


def promise_sweep(session: Session, config: Config, now: datetime) -> tuple[int, int]:
    """Remind and break what is due (no commit); returns ``(reminders, broken)``."""
    before = timedelta(hours=config.model.customers.promise_reminder_hours)
    items, reminded, broken = [], 0, 0
    for p in session.scalars(select(Promise).where(Promise.status == PromiseStatus.OPEN,
                                                   Promise.due_at <= now + before).order_by(Promise.due_at)):
        if p.due_at <= now:
            apply(session, p, PromiseTrigger.BREAK, at=now, actor="sweep",
                  reason=system_reason(SystemReason.PROMISE_NOT_KEPT, due=p.due_at.isoformat()))
            who = resolve_role(config, Role.LEAD, p.department)
            items.append(make_item(config, key=f"promise-broken:{p.id}", kind=NoticeKind.PROMISE_BROKEN, level=2,
                                   who=who, complaint_id=p.complaint_id, task=None, department=p.department,
                                   now=now, due=p.due_at, params={"promise": p.id, "what": p.kind}))
            broken += 1
        elif p.reminded_at is None:
            p.reminded_at = now
            who = resolve_recipient(session, config, Role.ASSIGNEE, p.department, person=p.person)
            items.append(make_item(config, key=f"promise-reminder:{p.id}", kind=NoticeKind.PROMISE_REMINDER,
                                   level=0, who=who, complaint_id=p.complaint_id, task=None,
                                   department=p.department, now=now, due=p.due_at,
                                   params={"promise": p.id, "what": p.kind, "owner": p.person or p.department}))
            reminded += 1
    insert_notifications(session, items)
    return reminded, broken


def promises_of(sessions, complaint_id: int) -> list[Promise]:
    """The promises made on a complaint, oldest first; ``NotFound`` for an unknown complaint (not an empty
    list: ``promises list 99999`` read as "no promise made")."""
    with unit_of_work(sessions) as s:
        if s.get(Complaint, complaint_id) is None:
            raise NotFound("complaint", complaint_id)
        return list(s.scalars(select(Promise).where(Promise.complaint_id == complaint_id).order_by(Promise.id)))


def promise_figures(session: Session, start: datetime, end: datetime, as_of: datetime) -> dict:
    """Per department, of the promises made by ``as_of`` and due in ``[start, end)``: ``made``, ``kept`` (on time),
    ``kept_late``, ``broken`` (not kept, due by ``as_of``), ``open`` (not yet due), ``cancelled``. Each promise as it
    stood at ``as_of`` (kept by then; cancelled by then: its status in the audit log), so the review of a past month
    does not change when a promise is kept or cancelled later."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(
        ("made", "kept", "kept_late", "broken", "open", "cancelled"), 0))
    due = and_(Promise.due_at >= start, Promise.due_at < end, Promise.made_at < as_of)
    status = states_at(session, "promise", as_of, select(Promise.id).where(due))
    for p in session.scalars(select(Promise).where(due)):
        row = out[p.department]
        row["made"] += 1
        if status.get(p.id, p.status) == PromiseStatus.CANCELLED:
            row["cancelled"] += 1
        elif p.kept_at is not None and p.kept_at <= as_of:
            row["kept" if p.kept_at <= p.due_at else "kept_late"] += 1
        elif p.due_at <= as_of:
            row["broken"] += 1
        else:
            row["open"] += 1
    return dict(sorted(out.items()))
