"""The sweep: reschedule what changed, fire what is due, pack what may be sent. Idempotent.

One call does three set-based steps, each in short transactions:

1. **reschedule** complaints flagged ``timers_dirty`` (every state change flags its complaint);
2. **fire** pending timers whose ``fire_at`` has passed (catching up after downtime, in time
   order); a timer is claimed with ``UPDATE ... WHERE status = 'pending'`` so two sweeps running
   at once fire it once, and every notification key is unique in the database;
3. **pack** released notifications (inside the recipient's working hours) into one digest
   outbox message per address.

Running it twice changes nothing the second time.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.domain.complaint import OPEN_STATES, ComplaintTrigger
from closeloop.domain.errors import NotFound
from closeloop.domain.task import ACTIVE_STATES, TaskStatus, TaskTrigger
from models.tables import Complaint, Notification, Task, Timer, Transition

from .audit import add_task
from .bulk import enqueue
from .clocks import refresh_due
from .effectiveness import reschedule_improvements, run_check
from .root_cause import record as record_root_cause
from .notify import LEVEL_ROLES, insert_notifications, make_item, render_digest, resolve_role
from .schedule import reschedule
from .tasks import fire_complaint, fire_task
from .customers.milestones import customer_sweep
from .uow import unit_of_work

SYSTEM = "sweep"


@dataclass
class SweepReport:
    rescheduled: int = 0
    fired: Counter = field(default_factory=Counter)
    notifications: int = 0
    messages: int = 0
    tasks_created: int = 0
    customer_notices: int = 0
    complaints: set = field(default_factory=set)
    departments: set = field(default_factory=set)

    def as_dict(self) -> dict:
        return {"rescheduled": self.rescheduled, "fired": dict(sorted(self.fired.items())),
                "notifications": self.notifications, "messages": self.messages,
                "tasks_created": self.tasks_created,
                **({"customer_notices": self.customer_notices} if self.customer_notices else {})}


def sweep(sessions, config: Config, now: datetime, *, batch: int = 500) -> SweepReport:
    """Run the three steps at the UTC-aware instant ``now`` (see the module docstring)."""
    report = SweepReport()
    _reschedule_dirty(sessions, config, now, batch, report)
    reschedule_improvements(sessions, config, now, batch)
    _fire_due(sessions, config, now, batch, report)
    _reschedule_dirty(sessions, config, now, batch, report)  # effects of firing (closes, follow-up tasks)
    reschedule_improvements(sessions, config, now, batch)
    with unit_of_work(sessions) as s:  # issue 13: promises; milestone notices and follow-up mails to customers
        report.customer_notices = customer_sweep(s, config, now)
    _pack(sessions, now, report)
    return report


# ------------------------------------------------------------------ 1. reschedule
def _reschedule_dirty(sessions, config, now, batch, report) -> None:
    last_id = 0
    while True:
        with unit_of_work(sessions) as s:
            rows = s.execute(select(Complaint.id, Complaint.version).where(
                Complaint.timers_dirty.is_(True), Complaint.id > last_id).order_by(Complaint.id).limit(batch)).all()
            if not rows:
                return
            for cid, version in rows:
                c = s.get(Complaint, cid)
                try:
                    with s.begin_nested():
                        reschedule(s, c, config, now)
                except IntegrityError:
                    continue  # a concurrent sweep rescheduled it at the same moment; it stays dirty for the next
                # cleared only if nobody changed the complaint meanwhile (else it stays dirty)
                s.execute(update(Complaint.__table__).where(Complaint.__table__.c.id == cid,
                                                            Complaint.__table__.c.version == version)
                          .values(timers_dirty=False))
                report.rescheduled += 1
            last_id = rows[-1][0]


# ------------------------------------------------------------------ 2. fire
def _fire_due(sessions, config, now, batch, report) -> None:
    """Claim due timers a batch at a time (one UPDATE ... RETURNING), apply their effects, insert the
    resulting notifications in bulk with ON CONFLICT DO NOTHING on the unique key."""
    tt = Timer.__table__
    while True:
        with unit_of_work(sessions) as s:
            ids = s.scalars(select(tt.c.id).where(tt.c.status == "pending", tt.c.fire_at <= now)
                            .order_by(tt.c.fire_at, tt.c.id).limit(batch)).all()
            if not ids:
                return
            claimed = s.execute(update(tt).where(tt.c.id.in_(ids), tt.c.status == "pending")
                                .values(status="fired", fired_at=now)
                                .returning(tt.c.id, tt.c.key, tt.c.kind, tt.c.complaint_id, tt.c.task_id,
                                           tt.c.improvement_id, tt.c.fire_at, tt.c.data)).all()
            claimed.sort(key=lambda r: (r.fire_at, r.id))  # another sweep may have taken some: fine
            complaints = {c.id: c for c in s.scalars(select(Complaint).where(
                Complaint.id.in_({r.complaint_id for r in claimed})))}
            tasks = {t.id: t for t in s.scalars(select(Task).where(
                Task.id.in_({r.task_id for r in claimed if r.task_id is not None})))}
            items: list[dict] = []
            for t in claimed:
                _effect(s, config, t, now, report, complaints, tasks, items)
                report.fired[t.kind] += 1
                if t.complaint_id is not None:
                    report.complaints.add(t.complaint_id)
            _insert_items(s, items, report)


def _insert_items(s: Session, items: list[dict], report: SweepReport) -> None:
    inserted = insert_notifications(s, items)
    report.notifications += len(inserted)
    report.departments.update(it["department"] for it in items if it["key"] in inserted and it["department"])


def _notify(items: list[dict], config, *, key, kind, level, role, complaint_id, task, department, now, text,
            due=None) -> None:
    who = resolve_role(config, role, department, task)
    items.append(make_item(config, key=key, kind=kind, level=level, who=who, complaint_id=complaint_id, task=task,
                           department=department, now=now, text=text, due=due,
                           improvement_id=task.improvement_id if task is not None else None))


def _effect(s: Session, config: Config, t, now: datetime, report: SweepReport, complaints: dict, tasks: dict,
            items: list[dict]) -> None:
    """Apply one fired timer (a row with key, kind, complaint_id, task_id, data); notifications go to ``items``.

    A timer of an improvement record (``complaint_id`` None) is an action task's reminder or escalation,
    or the effectiveness check (:func:`closeloop.services.effectiveness.run_check`)."""
    if t.kind == "effectiveness":
        run_check(s, config, t, now, items)
        return
    complaint = complaints.get(t.complaint_id)
    if complaint is None:
        complaint = _NoComplaint(t.complaint_id)
    task = tasks.get(t.task_id) if t.task_id else None
    if task is not None and (task.status not in ACTIVE_STATES):
        return  # stale: the task finished after the timer was scheduled
    data = t.data or {}
    dep = task.department if task is not None else None
    if t.kind == "reminder":
        if task.status == TaskStatus.WAITING:
            return
        _notify(items, config, key=t.key, kind="reminder", level=0, role="assignee", complaint_id=complaint.id,
                task=task, department=dep, now=now, due=task.due_at,
                text=f"{data.get('pct', '?')}% of the time budget used: {task.title}")
    elif t.kind == "manual_reminder":
        _notify(items, config, key=t.key, kind="manual_reminder", level=0, role="assignee",
                complaint_id=complaint.id, task=task, department=dep, now=now, text=data.get("note") or task.title)
    elif t.kind == "ack_timeout":
        if task.status != TaskStatus.OPEN:
            return
        _notify(items, config, key=t.key, kind="ack_timeout", level=2, role="lead", complaint_id=complaint.id,
                task=task, department=dep, now=now, due=task.ack_due_at,
                text=f"not acknowledged in time: {task.title}")
    elif t.kind == "escalation":
        if task.status == TaskStatus.WAITING:
            return
        level = int(data["level"])
        _notify(items, config, key=t.key, kind="escalation", level=level, role=LEVEL_ROLES[level],
                complaint_id=complaint.id, task=task, department=dep, now=now, due=task.due_at,
                text=f"overdue (level {level}): {task.title}")
    elif t.kind == "promise":
        if complaint.status not in OPEN_STATES or complaint.status == "awaiting_customer":
            return
        level = int(data["level"])
        _notify(items, config, key=t.key, kind="promise", level=level, role=LEVEL_ROLES[level],
                complaint_id=complaint.id, task=None, department=None, now=now, due=complaint.due_at,
                text=f"the promise to the customer is breached (severity {complaint.severity})")
    elif t.kind == "transfers":
        reasons = [r for (r,) in s.execute(select(Transition.reason).where(
            Transition.complaint_id == complaint.id, Transition.trigger == "transfer").order_by(Transition.at))]
        _notify(items, config, key=t.key, kind="transfers", level=3, role="operations_manager",
                complaint_id=complaint.id, task=None, department=None, now=now,
                text=f"transferred {complaint.transfer_count} times; reasons: " + " / ".join(r or "-" for r in reasons))
    elif t.kind == "pause_expired":
        _pause_expired(s, config, t, complaint, task, now, report, items)
    elif t.kind == "follow_up":
        _follow_up(s, config, t, complaint, now, report)


def _pause_expired(s, config, t, complaint, task, now, report, items) -> None:
    reason = (t.data or {}).get("reason") or "waiting"
    if task is not None:
        if task.status != TaskStatus.WAITING:
            return
        _notify(items, config, key=t.key, kind="pause_expired", level=2, role="lead", complaint_id=complaint.id,
                task=task, department=task.department, now=now, text=f"still waiting ({reason}): {task.title}")
        return
    if complaint.status != "awaiting_customer":
        return
    if not config.model.follow_up.auto_close_wait_after_max:
        _notify(items, config, key=t.key, kind="pause_expired", level=3, role="operations_manager",
                complaint_id=complaint.id, task=None, department=None, now=now,
                text=f"customer has not answered ({reason})")
        return
    note = "closed - no customer response"
    if complaint.root_cause is None:  # resolving needs a root cause; nobody could determine it
        record_root_cause(s, complaint, "undetermined", note + ": the customer did not answer", config=config,
                          actor=SYSTEM, at=now)
    fire_complaint(s, complaint, ComplaintTrigger.RESOLVE, at=now, actor=SYSTEM, reason=note)
    fire_complaint(s, complaint, ComplaintTrigger.CLOSE, at=now, actor=SYSTEM, reason=note)
    for task_ in s.scalars(select(Task).where(Task.complaint_id == complaint.id, Task.status.in_(ACTIVE_STATES))):
        fire_task(s, task_, TaskTrigger.CANCEL, at=now, actor=SYSTEM, reason=note)
    refresh_due(s, complaint.id, config, now)
    _notify(items, config, key=f"closing_notice:{complaint.id}:{t.key}", kind="closing_notice", level=0,
            role="customer", complaint_id=complaint.id, task=None, department=None, now=now,
            text="we closed your complaint because we did not hear back; reply to reopen it")


def _follow_up(s, config, t, complaint, now, report) -> None:
    if complaint.status != "resolved":
        return
    dep = config.follow_up_department
    task = Task(complaint_id=complaint.id, department=dep, kind="follow-up",
                title="Follow up with the customer: is the complaint resolved to their satisfaction?",
                instructions="Complete with --satisfied or --not-satisfied; not satisfied reopens the complaint.",
                status=TaskStatus.OPEN, created_at=now, updated_at=now)
    add_task(s, task, actor=SYSTEM, at=now, reason="customer follow-up",
             data={"department": dep, "kind": "follow-up", "timer": t.key})
    refresh_due(s, complaint.id, config, now)
    report.tasks_created += 1
    report.departments.add(dep)


class _NoComplaint:
    """Stands in for the complaint of an improvement action's timer (reminders and escalations only)."""

    status = None

    def __init__(self, cid):
        self.id = cid


# ------------------------------------------------------------------ 3. pack
class _PackedElsewhere(Exception):
    pass


#: Most events in one digest message; a larger backlog (after downtime) is split into several messages.
DIGEST_MAX_ITEMS = 200


def _pack(sessions, now: datetime, report: SweepReport) -> None:
    nt = Notification.__table__
    with unit_of_work(sessions) as s:
        items = s.execute(select(nt.c.id, nt.c.kind, nt.c.level, nt.c.role, nt.c.recipient, nt.c.address,
                                 nt.c.channel, nt.c.target, nt.c.language, nt.c.department, nt.c.complaint_id,
                                 nt.c.improvement_id, nt.c.task_id, nt.c.key, nt.c.data)
                          .where(nt.c.status == "pending", nt.c.release_at <= now).order_by(nt.c.id)).all()
        groups: dict[tuple[str, str, str], list] = defaultdict(list)
        for n in items:
            groups[(n.channel, n.target, n.address)].append(n)
        chunks = [(k, g[i:i + DIGEST_MAX_ITEMS]) for k, g in groups.items() for i in range(0, len(g), DIGEST_MAX_ITEMS)]
        for (channel, target, address), group in chunks:
            ids = [n.id for n in group]
            key = "digest:" + hashlib.sha256((address + ":" + ",".join(map(str, ids))).encode()).hexdigest()[:32]
            entries = _digest_entries(group)
            subject, body = render_digest(group[0].language, group[0].recipient, entries)
            try:
                with s.begin_nested():
                    oid = enqueue(s, key=key, channel=channel, target=target, recipient=group[0].recipient,
                                  subject=subject, body=body, now=now,
                                  payload={"items": [{k: v for k, v in e.items() if k != "kind_label"}
                                                     for e in entries]})
                    if oid is None:
                        raise _PackedElsewhere()
                    done = s.execute(update(Notification.__table__).where(
                        Notification.__table__.c.id.in_(ids), Notification.__table__.c.status == "pending")
                        .values(status="packed", outbox_id=oid)).rowcount
                    if done != len(ids):
                        raise _PackedElsewhere()
            except (IntegrityError, _PackedElsewhere):
                continue  # another sweep packed (some of) these items
            report.messages += 1


def _digest_entries(group: list) -> list[dict]:
    """One entry per event; an event reaching one address through several roles lists all roles (C25)."""
    by_event: dict[tuple, dict] = {}
    for n in group:
        event = (n.kind, n.complaint_id, n.task_id, n.level, (n.data or {}).get("text"))
        e = by_event.get(event)
        if e is None:
            e = by_event[event] = {"kind": n.kind, "level": n.level, "complaint_id": n.complaint_id,
                                   "improvement_id": n.improvement_id,
                                   "task_id": n.task_id, "department": n.department or "",
                                   "text": (n.data or {}).get("text", ""), "due_local": (n.data or {}).get("due_local"),
                                   "roles": [], "keys": []}
        if n.role not in e["roles"]:
            e["roles"].append(n.role)
        e["keys"].append(n.key)
    return list(by_event.values())


def add_manual_reminder(sessions, task_id: int, at: datetime, *, note: str, now: datetime) -> Timer:
    """A reminder on a task at ``at`` (UTC-aware). Keyed by (task, instant): a second reminder at
    another instant is a second notification, the same instant twice is one (CASES.md C21)."""
    with unit_of_work(sessions) as s:
        task = s.get(Task, task_id)
        if task is None:
            raise NotFound("task", task_id)
        key = f"manual_reminder:{task_id}:{at.astimezone(timezone.utc).isoformat()}"
        existing = s.scalar(select(Timer).where(Timer.key == key))
        if existing is not None:
            return existing
        timer = Timer(key=key, kind="manual_reminder", complaint_id=task.complaint_id,
                      improvement_id=task.improvement_id, task_id=task.id, fire_at=at,
                      status="pending", data={"note": note}, created_at=now)
        s.add(timer)
        return timer


__all__ = ["sweep", "SweepReport", "add_manual_reminder"]
