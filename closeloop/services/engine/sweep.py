"""The sweep: reschedule what changed, fire what is due, pack what may be sent. Idempotent.

One call does three set-based steps, each in short transactions:

1. **reschedule** complaints flagged ``timers_dirty`` (every state change flags its complaint; a new
   configuration flags all open work, K10: :func:`~closeloop.services.departments.apply_configuration`);
2. **fire** pending timers whose ``fire_at`` has passed (catching up after downtime, in time
   order); a timer is claimed with ``UPDATE ... WHERE status = 'pending'`` so two sweeps running
   at once fire it once, and every notification key is unique in the database; on PostgreSQL the
   batch is selected ``FOR UPDATE SKIP LOCKED``, so a second sweep takes the next due timers
   instead of waiting for the first one's batch;
3. **pack** released notifications (inside the recipient's working hours) into one digest
   outbox message per address.

Running it twice changes nothing the second time.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.domain.complaint import ComplaintStatus, ComplaintTrigger
from closeloop.domain.errors import NotFound
from closeloop.domain.notices import (
    TIMERS,
    DropReason,
    Effect,
    NoticeKind,
    NotificationStatus,
    Role,
    Subject,
    TimerKind,
    TimerStatus,
    chain_rank,
    page_role,
    role_for,
    still_applies,
)
from closeloop.domain.task import ACTIVE_STATES, TaskStatus, TaskTrigger
from closeloop.services.audit import add_task
from closeloop.services.bulk import enqueue, rowcount, unindexed
from closeloop.services.capa.effectiveness import reschedule_improvements, run_check
from closeloop.services.capa.root_cause import record as record_root_cause
from closeloop.services.customers.milestones import customer_sweep
from closeloop.services.departments import apply_configuration
from closeloop.services.engine.clocks import batched_refreshes, refresh_due, refresh_noted
from closeloop.services.engine.notify import insert_notifications, make_item, render_digest
from closeloop.services.engine.schedule import TimerPlan, next_ack_page, reschedule_batch
from closeloop.services.people.users import resolve_recipient
from closeloop.services.transitions import apply
from closeloop.services.uow import unit_of_work
from models.tables import Complaint, Notification, Task, Timer, Transition

SYSTEM = "sweep"


@dataclass
class SweepReport:
    rescheduled: int = 0
    policy_flagged: int = 0  # complaints flagged because the configuration changed (K10)
    fired: Counter = field(default_factory=Counter)
    notifications: int = 0
    messages: int = 0
    tasks_created: int = 0
    customer_notices: int = 0
    dropped: Counter = field(default_factory=Counter)
    complaints: set = field(default_factory=set)
    departments: set = field(default_factory=set)

    def as_dict(self) -> dict:
        return {"rescheduled": self.rescheduled, "fired": dict(sorted(self.fired.items())),
                "notifications": self.notifications, "messages": self.messages,
                "tasks_created": self.tasks_created, "dropped": dict(sorted(self.dropped.items())),
                **({"policy_flagged": self.policy_flagged} if self.policy_flagged else {}),
                **({"customer_notices": self.customer_notices} if self.customer_notices else {})}


def sweep(sessions, config: Config, now: datetime, *, batch: int = 500) -> SweepReport:
    """Run the three steps at the UTC-aware instant ``now`` (see the module docstring)."""
    report = SweepReport()
    with unit_of_work(sessions) as s:  # K10: a new configuration reaches open work in this very sweep
        report.policy_flagged = apply_configuration(s, config, now)[1]
    _reschedule_dirty(sessions, config, now, batch, report)
    reschedule_improvements(sessions, config, now, batch)
    for _ in range(MAX_ROUNDS):  # effects of firing (closes, follow-up tasks, the next page) may fall due now
        fired = sum(report.fired.values())
        _fire_due(sessions, config, now, batch, report)
        _reschedule_dirty(sessions, config, now, batch, report)
        reschedule_improvements(sessions, config, now, batch)
        if sum(report.fired.values()) == fired:
            break
    with unit_of_work(sessions) as s:  # issue 13: promises; milestone notices and follow-up mails to customers
        report.customer_notices = customer_sweep(s, config, now)
    _pack(sessions, now, report)
    return report


#: Fire/reschedule rounds per sweep at most (a chain that keeps falling due continues in the next sweep).
MAX_ROUNDS = 5


# ------------------------------------------------------------------ 1. reschedule
def _reschedule_dirty(sessions, config, now, batch, report) -> None:
    """Reschedule the complaints flagged ``timers_dirty``, ``batch`` at a time, each batch set-based
    (:func:`~closeloop.services.engine.schedule.reschedule_batch`) in its own transaction.

    PostgreSQL: a batch is claimed ``FOR UPDATE SKIP LOCKED``, so sweeps running at once (several
    workers, issue 15) share the dirty complaints instead of queueing on the same rows or deadlocking on
    their timers; a complaint locked by a use case in flight is left dirty for the next sweep. A sweep
    killed mid-batch loses its locks with its connection and its complaints stay dirty (nothing is lost).
    """
    last_id = 0
    while True:
        with unit_of_work(sessions) as s:
            rows = s.execute(select(Complaint.id, Complaint.version).where(
                Complaint.timers_dirty.is_(True), Complaint.id > last_id).order_by(Complaint.id).limit(batch)
                .with_for_update(skip_locked=True)).all()
            if not rows:
                return
            report.rescheduled += reschedule_batch(s, [(cid, v) for cid, v in rows], config, now)
            last_id = rows[-1][0]


# ------------------------------------------------------------------ 2. fire
def _fire_due(sessions, config, now, batch, report) -> None:
    """Claim due timers a batch at a time (one UPDATE ... RETURNING), apply their effects, insert the
    resulting notifications in bulk with ON CONFLICT DO NOTHING on the unique key."""
    tt = Timer.__table__
    while True:
        with unit_of_work(sessions) as s:
            # PostgreSQL: rows another sweep is claiming are skipped, not waited for, so concurrent
            # sweeps share the due timers (SQLite ignores FOR UPDATE; its writers take turns)
            ids = s.scalars(select(tt.c.id).where(tt.c.status == TimerStatus.PENDING, tt.c.fire_at <= now)
                            .order_by(tt.c.fire_at, tt.c.id).limit(batch).with_for_update(skip_locked=True)).all()
            if not ids:
                return
            claimed = s.execute(update(tt).where(tt.c.id.in_(ids), unindexed(tt.c.status) == TimerStatus.PENDING)
                                .values(status=TimerStatus.FIRED, fired_at=now)
                                .returning(tt.c.id, tt.c.key, tt.c.kind, tt.c.complaint_id, tt.c.task_id,
                                           tt.c.improvement_id, tt.c.fire_at, tt.c.data)).all()
            claimed = sorted(claimed, key=lambda r: (r.fire_at, r.id))  # another sweep may have taken some: fine
            complaints, tasks = _subjects(s, claimed)
            items = _Batch()
            # the effects' clock refreshes gathered (one History load per batch); a complaint's own are done
            # before another of its timers takes effect, so every effect reads its clocks as refreshed
            with batched_refreshes(s):
                for t in claimed:
                    if t.complaint_id is not None:
                        refresh_noted(s, [t.complaint_id])
                    _effect(s, config, t, now, report, complaints, tasks, items)
                    report.fired[t.kind] += 1
                    if t.complaint_id is not None:
                        report.complaints.add(t.complaint_id)
            items.pages.apply(s)
            _insert_items(s, items, report)


class _Batch(list):
    """The notification rows (dicts) one batch of fired timers makes, and ``pages``: the acknowledgement
    pages after the ones fired, written together (one bulk insert) before the batch commits; ``recipients``:
    who each (role, department, assignee) resolved to, asked once per batch."""

    def __init__(self):
        super().__init__()
        self.pages = TimerPlan()
        self.recipients: dict[tuple, Any] = {}  # resolve_recipient's answers within the batch (one config)


#: The complaint and task columns a notice reads (:func:`_notify_effect`, :func:`_notice_params`,
#: :func:`~closeloop.services.people.users.resolve_recipient`, :func:`~closeloop.services.engine.notify.make_item`).
_COMPLAINT_COLS = ("id", "status", "severity", "due_at", "transfer_count")
_TASK_COLS = ("id", "complaint_id", "improvement_id", "department", "title", "status", "assignee",
              "assignee_user_id", "ack_due_at", "due_at")


def _subjects(s: Session, claimed: list) -> tuple[dict, dict]:
    """The complaints and tasks of a batch of claimed timers, by id: plain rows of the columns a notice
    reads when every timer of the batch only notifies, else ORM objects (the other effects change their
    complaint and its tasks, and later timers of the batch see those changes)."""
    cids = {r.complaint_id for r in claimed if r.complaint_id is not None}
    tids = {r.task_id for r in claimed if r.task_id is not None}
    if all(TIMERS[_kind(r)].effect == Effect.NOTIFY for r in claimed):
        ct, tt = Complaint.__table__, Task.__table__
        rows: Sequence[Any] = (s.execute(select(*(ct.c[n] for n in _COMPLAINT_COLS)).where(ct.c.id.in_(cids))).all()
                               if cids else [])
        trows: Sequence[Any] = (s.execute(select(*(tt.c[n] for n in _TASK_COLS)).where(tt.c.id.in_(tids))).all()
                                if tids else [])
        return {r.id: r for r in rows}, {r.id: r for r in trows}
    return ({c.id: c for c in s.scalars(select(Complaint).where(Complaint.id.in_(cids)))},
            {t.id: t for t in s.scalars(select(Task).where(Task.id.in_(tids)))})


def _kind(t) -> TimerKind:
    """The declared kind of fired timer ``t``."""
    kind = TimerKind(t.kind)
    if kind == TimerKind.PAUSE_EXPIRED and t.task_id is not None:
        return TimerKind.TASK_PAUSE_EXPIRED  # rows written before the task kind was declared apart
    return kind


def _insert_items(s: Session, items: list[dict], report: SweepReport) -> None:
    inserted = insert_notifications(s, items)
    report.notifications += len(inserted)
    report.departments.update(it["department"] for it in items if it["key"] in inserted and it["department"])


def _notify(s: Session, items: list[dict], config, *, key, kind, level, role, complaint_id, task, department, now,
            params, due=None) -> None:
    memo = getattr(items, "recipients", None)
    ask = (role, department, task.assignee, task.assignee_user_id) if task is not None else (role, department)
    who = memo.get(ask) if memo is not None else None
    if who is None:
        who = resolve_recipient(s, config, role, department, task)  # an assigned user's own target (issue 14)
        if memo is not None:
            memo[ask] = who
    items.append(make_item(config, key=key, kind=kind, level=level, who=who, complaint_id=complaint_id, task=task,
                           department=department, now=now, params=params, due=due,
                           improvement_id=task.improvement_id if task is not None else None))


def _subject(complaint, task) -> Subject:
    return Subject(task.status if task is not None else None, complaint.status)


def _effect(s: Session, config: Config, t, now: datetime, report: SweepReport, complaints: dict, tasks: dict,
            items: list[dict]) -> None:
    """Apply one fired timer (a row with key, kind, complaint_id, task_id, data): the effect its kind
    declares in :data:`closeloop.domain.notices.TIMERS`; a timer whose subject no longer applies
    (:func:`~closeloop.domain.notices.still_applies`) does nothing. Notifications go to ``items``.

    A timer of an improvement record (``complaint_id`` None) is an action task's reminder or escalation,
    or the effectiveness check (:func:`closeloop.services.capa.effectiveness.run_check`)."""
    spec = TIMERS[_kind(t)]
    complaint = complaints.get(t.complaint_id) or _NoComplaint(t.complaint_id)
    task = tasks.get(t.task_id) if t.task_id else None
    if t.task_id and task is None:
        return
    if spec.applies(_subject(complaint, task)) is not None:
        return  # stale: the task or complaint moved on after the timer was scheduled
    _EFFECTS[spec.effect](s, config, t, spec, complaint, task, now, report, items)


def _notice_params(s: Session, spec, t, complaint, task) -> dict:
    """The template fields of a fired timer's notice (see ``NOTICES`` texts)."""
    params = dict(t.data or {})
    if task is not None:
        params["title"] = task.title
    if spec.kind == TimerKind.PROMISE:
        params["severity"] = complaint.severity
    elif spec.kind == TimerKind.TRANSFERS:
        reasons = s.scalars(select(Transition.reason).where(
            Transition.complaint_id == complaint.id, Transition.trigger == TaskTrigger.TRANSFER)
            .order_by(Transition.at)).all()
        params["count"] = complaint.transfer_count
        params["reasons"] = " / ".join(r or "-" for r in reasons)
    params.setdefault("reason", "waiting")
    params.setdefault("note", task.title if task is not None else "")
    return params


def _notify_effect(s, config, t, spec, complaint, task, now, report, items) -> None:
    data = t.data or {}
    if spec.kind == TimerKind.ACK_TIMEOUT:
        role, level = page_role(int(data.get("page", 1)))
        _schedule_next_page(config, t, task, now, items.pages)
    else:
        level = spec.level if spec.level is not None else int(data.get("level", 1))
        role = role_for(spec, level)
    due = None
    if task is not None:
        due = task.ack_due_at if spec.kind == TimerKind.ACK_TIMEOUT else task.due_at
    elif spec.kind == TimerKind.PROMISE:
        due = complaint.due_at
    _notify(s, items, config, key=t.key, kind=spec.kind.value, level=level, role=role, complaint_id=complaint.id,
            task=task, department=task.department if task is not None else None, now=now, due=due,
            params=_notice_params(s, spec, t, complaint, task))


def _schedule_next_page(config: Config, t, task, now: datetime, pages: TimerPlan) -> None:
    """Plan the acknowledgement page after the fired one ``t`` (none after ``ack_page_limit``) in ``pages``
    (the batch's plan: one row each, skipped when its key exists); no full reschedule of the complaint
    (paging is one step per page)."""
    nxt = next_ack_page(config, task.department, task.id, int((t.data or {}).get("page", 1)), t.fire_at)
    if nxt is not None:
        pages.add([nxt], [], now, complaint_id=t.complaint_id, improvement_id=t.improvement_id)


def _pause_expired(s, config, t, spec, complaint, task, now, report, items) -> None:
    reason = (t.data or {}).get("reason") or "waiting"
    if not config.model.follow_up.auto_close_wait_after_max:
        _notify(s, items, config, key=t.key, kind=NoticeKind.PAUSE_EXPIRED.value, level=spec.level, role=spec.role,
                complaint_id=complaint.id, task=None, department=None, now=now, params={"reason": reason})
        return
    note = "closed - no customer response"
    if complaint.root_cause is None:  # resolving needs a root cause; nobody could determine it
        record_root_cause(s, complaint, "undetermined", note + ": the customer did not answer", config=config,
                          actor=SYSTEM, at=now)
    apply(s, complaint, ComplaintTrigger.RESOLVE, at=now, actor=SYSTEM, reason=note)
    apply(s, complaint, ComplaintTrigger.CLOSE, at=now, actor=SYSTEM, reason=note)
    for task_ in s.scalars(select(Task).where(Task.complaint_id == complaint.id, Task.status.in_(ACTIVE_STATES))):
        apply(s, task_, TaskTrigger.CANCEL, at=now, actor=SYSTEM, reason=note)
    refresh_due(s, complaint.id, config, now)
    _notify(s, items, config, key=f"{NoticeKind.CLOSING_NOTICE}:{complaint.id}:{t.key}",
            kind=NoticeKind.CLOSING_NOTICE.value,
            level=0, role=Role.CUSTOMER, complaint_id=complaint.id, task=None, department=None, now=now, params={})


def _effectiveness(s, config, t, spec, complaint, task, now, report, items) -> None:
    run_check(s, config, t, now, items)


def _follow_up(s, config, t, spec, complaint, task, now, report, items) -> None:
    if complaint.status != ComplaintStatus.RESOLVED:
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


#: The one function per declared :class:`~closeloop.domain.notices.Effect`.
_EFFECTS = {Effect.NOTIFY: _notify_effect, Effect.PAUSE_EXPIRED: _pause_expired, Effect.FOLLOW_UP: _follow_up,
            Effect.EFFECTIVENESS: _effectiveness}


# ------------------------------------------------------------------ 3. pack
class _PackedElsewhere(Exception):
    pass


#: Most events in one digest message; a larger backlog (after downtime) is split into several messages.
DIGEST_MAX_ITEMS = 200


def _drop_stale(s: Session, rows: Sequence[Any], now: datetime, report: SweepReport) -> set[int]:
    """K12: a released notice must still apply. Drop (status ``dropped``, the :class:`DropReason` in
    ``data.dropped``) each released pending notification of ``rows`` (:func:`_released`) whose task or
    complaint moved on (:func:`~closeloop.domain.notices.still_applies`) or that a later member of its chain
    fired for the same task, address and role superseded (80 % and 100 % reminders held overnight beside the
    level-1 escalation: only the escalation is sent). Source: Icinga/icinga2#5919, PR #7270. Returns the
    ids dropped."""
    nt = Notification.__table__
    top = _chain_tops(s, rows, now)
    drops: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        reason = still_applies(r.kind, Subject(r.task_status, r.complaint_status))
        rank = chain_rank(r.kind, r.level, _detail(r.data))
        later = rank is not None and top.get((r.task_id, r.address, r.role, rank[0]), rank[1]) > rank[1]
        if reason is None and later:
            reason = DropReason.SUPERSEDED
        if reason is not None:
            drops[reason].append(r.id)
    for dropped_reason, ids in drops.items():
        s.execute(update(nt).where(nt.c.id.in_(ids), unindexed(nt.c.status) == NotificationStatus.PENDING)
                  .values(status=NotificationStatus.DROPPED, dropped_reason=dropped_reason))
        report.dropped[dropped_reason] += len(ids)
    return {i for ids in drops.values() for i in ids}


def _released(s: Session, now: datetime) -> Sequence[Any]:
    """The pending notifications released by ``now``, oldest first, with their task's and complaint's status."""
    nt, tt, ct = Notification.__table__, Task.__table__, Complaint.__table__
    return s.execute(select(nt.c.id, nt.c.kind, nt.c.level, nt.c.role, nt.c.recipient, nt.c.address,
                            nt.c.channel, nt.c.target, nt.c.language, nt.c.department, nt.c.complaint_id,
                            nt.c.improvement_id, nt.c.task_id, nt.c.key, nt.c.data,
                            tt.c.status.label("task_status"), ct.c.status.label("complaint_status"))
                     .outerjoin(tt, tt.c.id == nt.c.task_id).outerjoin(ct, ct.c.id == nt.c.complaint_id)
                     .where(nt.c.status == NotificationStatus.PENDING, nt.c.release_at <= now)
                     .order_by(nt.c.id)).all()


def _detail(data: dict | None) -> int:
    params = (data or {}).get("params") or {}
    return int(params.get("pct") or params.get("page") or params.get("level") or 0)


def _chain_tops(s: Session, released: Sequence[Any], now: datetime) -> dict[tuple, float]:
    """Highest chain rank fired so far per (task, address, role, chain), over every notification of the
    tasks of ``released`` (the released pending rows, read already; the tasks' other rows are read here,
    500 tasks a statement); one person in two roles still hears as both, C25."""
    nt = Notification.__table__
    top: dict[tuple, float] = {}

    def see(r) -> None:
        rank = chain_rank(r.kind, r.level, _detail(r.data))
        if rank is not None:
            k = (r.task_id, r.address, r.role, rank[0])
            top[k] = max(top.get(k, rank[1]), rank[1])

    ids = sorted({r.task_id for r in released if r.task_id is not None})
    for r in released:
        if r.task_id is not None:
            see(r)
    for i in range(0, len(ids), 500):
        for r in s.execute(select(nt.c.kind, nt.c.level, nt.c.address, nt.c.role, nt.c.task_id, nt.c.data)
                           .where(nt.c.task_id.in_(ids[i:i + 500]),
                                  or_(nt.c.status != NotificationStatus.PENDING, nt.c.release_at > now))):
            see(r)
    return top


def _pack(sessions, now: datetime, report: SweepReport) -> None:
    """Drop the released notices that no longer apply (:func:`_drop_stale`), then pack the others into one
    digest per address (:data:`DIGEST_MAX_ITEMS` items at most), in one transaction: the released rows are
    read once for both."""
    with unit_of_work(sessions) as s:
        released = _released(s, now)
        dropped = _drop_stale(s, released, now, report)
        items = [n for n in released if n.id not in dropped]
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
                                  payload={"items": [{k: v for k, v in e.items()
                                                      if k not in ("kind_label", "role_labels")}
                                                     for e in entries]})
                    if oid is None:
                        raise _PackedElsewhere()
                    done = rowcount(s.execute(update(Notification.__table__).where(
                        Notification.__table__.c.id.in_(ids),
                        unindexed(Notification.__table__.c.status) == NotificationStatus.PENDING)
                        .values(status=NotificationStatus.PACKED, outbox_id=oid)))
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
                                   "text": (n.data or {}).get("text", ""), "params": (n.data or {}).get("params"),
                                   "due_local": (n.data or {}).get("due_local"),
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
        key = TIMERS[TimerKind.MANUAL_REMINDER].key(task=task_id, at=at.astimezone(UTC).isoformat())
        existing = s.scalar(select(Timer).where(Timer.key == key))
        if existing is not None:
            return existing
        timer = Timer(key=key, kind=TimerKind.MANUAL_REMINDER, complaint_id=task.complaint_id,
                      improvement_id=task.improvement_id, task_id=task.id, fire_at=at,
                      status=TimerStatus.PENDING, data={"note": note}, created_at=now)
        s.add(timer)
        return timer


__all__ = ["sweep", "SweepReport", "add_manual_reminder"]
