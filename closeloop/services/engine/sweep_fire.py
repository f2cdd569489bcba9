"""Step 2 of the sweep (:mod:`closeloop.services.engine.sweep`): fire the pending timers whose ``fire_at``
has passed, in time order, and apply the effect each kind declares in
:data:`closeloop.domain.notices.TIMERS` (notify, close a wait that expired, open the customer follow-up,
run an effectiveness check). A timer is claimed with ``UPDATE ... WHERE status = 'pending'``, so two
sweeps running at once fire it once; on PostgreSQL the batch is selected ``FOR UPDATE SKIP LOCKED``.
Notifications are inserted in bulk with ON CONFLICT DO NOTHING on their unique key."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.domain.complaint import WAIT_EXPIRED, ComplaintStatus, ComplaintTrigger
from closeloop.domain.notices import (
    TIMERS,
    Effect,
    NoticeKind,
    Subject,
    TimerKind,
    TimerStatus,
    page_role,
    role_for,
)
from closeloop.domain.reasons import SystemReason, system_reason
from closeloop.domain.task import ACTIVE_STATES, TaskStatus, TaskTrigger
from closeloop.domain.task_kinds import SYSTEM_TITLES, SystemTaskKind
from closeloop.services.audit import add_task
from closeloop.services.bulk import select_rows, unindexed
from closeloop.services.capa.effectiveness import run_check
from closeloop.services.capa.root_cause import record as record_root_cause
from closeloop.services.engine.clocks import batched_refreshes, refresh_due, refresh_noted
from closeloop.services.engine.ledger import complaint_changed_after, record_changed_after
from closeloop.services.engine.notify import insert_notifications, make_item
from closeloop.services.engine.schedule import TimerPlan, next_ack_page
from closeloop.services.people.users import resolve_recipient
from closeloop.services.transitions import apply
from closeloop.services.uow import unit_of_work
from models.tables import Complaint, Task, Timer, Transition

if TYPE_CHECKING:  # the report type only; sweep.py imports this module
    from closeloop.services.engine.sweep import SweepReport

#: The actor of the audit rows the effects write.
SYSTEM = "sweep"


def fire_due(sessions, config, now, batch, report) -> None:
    """Claim due timers a batch at a time (one UPDATE ... RETURNING), apply their effects, insert the
    resulting notifications in bulk with ON CONFLICT DO NOTHING on the unique key."""
    tt = Timer.__table__
    while True:
        with unit_of_work(sessions) as s:
            # PostgreSQL: rows another sweep is claiming are skipped, not waited for, so concurrent
            # sweeps share the due timers (SQLite ignores FOR UPDATE; its writers take turns)
            ids = s.scalars(select(tt.c.id).where(tt.c.status == TimerStatus.PENDING, tt.c.fire_at <= now,
                                                  *_not_changed_after(now))
                            .order_by(tt.c.fire_at, tt.c.id).limit(batch).with_for_update(skip_locked=True)).all()
            if not ids:
                return
            claimed = sorted(map(_Claimed._make, select_rows(s, _CLAIM, {"ids": ids, "now": now})),
                             key=lambda r: (r.fire_at, r.id))  # another sweep may have taken some: fine
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
            report.departments.update(_touched_departments(s, claimed, tasks))
            items.pages.apply(s)
            _insert_items(s, items, report)


def _not_changed_after(now: datetime) -> tuple:
    """Conditions on a timer row: its complaint, or its improvement record (its own rows and its actions'),
    has no audit row stamped after ``now`` (:func:`~closeloop.services.engine.ledger.complaint_changed_after`,
    :func:`~closeloop.services.engine.ledger.record_changed_after`). A sweep as of a past moment leaves the other
    timers pending: their effects would be stamped before the subject's latest change and judged on its state as
    it is now. A complaint's timer (no record) never runs the record's probes."""
    tt = Timer.__table__
    return (or_(tt.c.complaint_id.is_(None), ~complaint_changed_after(tt.c.complaint_id, now)),
            or_(tt.c.improvement_id.is_(None), ~record_changed_after(tt.c.improvement_id, now)))


class _Claimed(NamedTuple):
    """A timer the sweep claimed (:data:`_CLAIM`)."""

    id: int
    key: str
    kind: str
    complaint_id: int | None
    task_id: int | None
    improvement_id: int | None
    fire_at: datetime
    data: dict | None


_TIMERS = Timer.__table__
#: Claim the pending timers among ``ids``: fired at ``now``; the rows claimed (not those another sweep took).
_CLAIM = (update(_TIMERS).where(_TIMERS.c.id.in_(bindparam("ids", expanding=True)),
                                unindexed(_TIMERS.c.status) == TimerStatus.PENDING)
          .values(status=TimerStatus.FIRED, fired_at=bindparam("now"))
          .returning(*(_TIMERS.c[n] for n in _Claimed._fields)))


class _Batch(list):
    """The notification rows (dicts) one batch of fired timers makes, and ``pages``: the acknowledgement
    pages after the ones fired, written together (one bulk insert) before the batch commits; ``recipients``:
    who each (role, department, assignee) resolved to, asked once per batch."""

    def __init__(self):
        super().__init__()
        self.pages = TimerPlan()
        self.recipients: dict[tuple, Any] = {}  # resolve_recipient's answers within the batch (one config)


class _NoticeComplaint(NamedTuple):
    """The complaint columns a notice reads (:func:`_notify_effect`, :func:`_notice_params`,
    :func:`~closeloop.services.people.users.resolve_recipient`, :func:`~closeloop.services.engine.notify.make_item`)."""

    id: int
    status: str
    severity: str
    due_at: datetime | None
    transfer_count: int


class _NoticeTask(NamedTuple):
    """The task columns a notice reads (see :class:`_NoticeComplaint`)."""

    id: int
    complaint_id: int | None
    improvement_id: int | None
    department: str
    title: str
    status: str
    assignee: str | None
    assignee_user_id: int | None
    ack_due_at: datetime | None
    due_at: datetime | None


_CT, _TT = Complaint.__table__, Task.__table__
_NOTICE_COMPLAINTS = (select(*(_CT.c[n] for n in _NoticeComplaint._fields))
                      .where(_CT.c.id.in_(bindparam("ids", expanding=True))))
_NOTICE_TASKS = select(*(_TT.c[n] for n in _NoticeTask._fields)).where(_TT.c.id.in_(bindparam("ids", expanding=True)))


def _subjects(s: Session, claimed: list) -> tuple[dict, dict]:
    """The complaints and tasks of a batch of claimed timers, by id: plain rows of the columns a notice
    reads (:class:`_NoticeComplaint`, :class:`_NoticeTask`, read as tuples: a catch-up reads some 40,000)
    when every timer of the batch only notifies, else ORM objects (the other effects change their complaint
    and its tasks, and later timers of the batch see those changes)."""
    cids = {r.complaint_id for r in claimed if r.complaint_id is not None}
    tids = {r.task_id for r in claimed if r.task_id is not None}
    if all(TIMERS[_kind(r)].effect == Effect.NOTIFY for r in claimed):
        rows = map(_NoticeComplaint._make, select_rows(s, _NOTICE_COMPLAINTS, {"ids": sorted(cids)})) if cids else ()
        trows = map(_NoticeTask._make, select_rows(s, _NOTICE_TASKS, {"ids": sorted(tids)})) if tids else ()
        return {r.id: r for r in rows}, {r.id: r for r in trows}
    return ({c.id: c for c in s.scalars(select(Complaint).where(Complaint.id.in_(cids)))},
            {t.id: t for t in s.scalars(select(Task).where(Task.id.in_(tids)))})


_TASK_DEPARTMENTS = (select(_TT.c.department).distinct()
                     .where(_TT.c.complaint_id.in_(bindparam("ids", expanding=True))))


def _touched_departments(s: Session, claimed: list, tasks: dict) -> set[str]:
    """The departments a batch of fired timers touched (the sweep run's ``department:`` tags): a task's timer
    its task's department; a complaint's own timer (a promise, a wait's end, the follow-up) the departments of
    the complaint's tasks (one query per batch). Whether or not the timer's notice was new."""
    deps = {tasks[t.task_id].department for t in claimed if t.task_id in tasks}
    cids = sorted({t.complaint_id for t in claimed if t.task_id is None and t.complaint_id is not None})
    if cids:
        deps.update(s.scalars(_TASK_DEPARTMENTS, {"ids": cids}))
    return deps


def _kind(t) -> TimerKind:
    """The declared kind of fired timer ``t``."""
    kind = TimerKind(t.kind)
    if kind == TimerKind.PAUSE_EXPIRED and t.task_id is not None:
        return TimerKind.TASK_PAUSE_EXPIRED  # rows written before the task kind was declared apart
    return kind


def _insert_items(s: Session, items: list[dict], report: SweepReport) -> None:
    inserted = insert_notifications(s, items)
    report.notifications += len(inserted)


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
    reason = (t.data or {}).get("reason") or None  # a wait row without a reason (one written before the guard)
    if not config.model.follow_up.auto_close_wait_after_max:
        _notify(s, items, config, key=t.key, kind=NoticeKind.PAUSE_EXPIRED.value, level=spec.level, role=spec.role,
                complaint_id=complaint.id, task=None, department=None, now=now, params={"reason": reason or ""})
        return
    note = system_reason(SystemReason.NO_CUSTOMER_RESPONSE)
    if complaint.root_cause is None:  # resolving needs a root cause; nobody could determine it
        record_root_cause(s, complaint, "undetermined", system_reason(SystemReason.NO_CUSTOMER_RESPONSE_CAUSE),
                          config=config, actor=SYSTEM, at=now)
    # the customer hears of it from the customer step (customers.milestones: the "closed" notice in their
    # language over their channel, read from these audit rows), never through the staff digest; no reason is
    # stored as none (the customer's template words it), never as an English placeholder
    data = {"closed_by": WAIT_EXPIRED, "wait_reason": reason}
    apply(s, complaint, ComplaintTrigger.RESOLVE, at=now, actor=SYSTEM, reason=note, data=data)
    apply(s, complaint, ComplaintTrigger.CLOSE, at=now, actor=SYSTEM, reason=note, data=data)
    for task_ in s.scalars(select(Task).where(Task.complaint_id == complaint.id, Task.status.in_(ACTIVE_STATES))):
        apply(s, task_, TaskTrigger.CANCEL, at=now, actor=SYSTEM, reason=note)
    refresh_due(s, complaint.id, config, now)


def _effectiveness(s, config, t, spec, complaint, task, now, report, items) -> None:
    run_check(s, config, t, now, items)


def _follow_up(s, config, t, spec, complaint, task, now, report, items) -> None:
    if complaint.status != ComplaintStatus.RESOLVED:
        return
    dep = config.follow_up_department
    task = Task(complaint_id=complaint.id, department=dep, kind=SystemTaskKind.FOLLOW_UP,
                title=SYSTEM_TITLES[SystemTaskKind.FOLLOW_UP],
                instructions="Complete with --satisfied or --not-satisfied; not satisfied reopens the complaint.",
                status=TaskStatus.OPEN, created_at=now, updated_at=now)
    add_task(s, task, actor=SYSTEM, at=now, reason=system_reason(SystemReason.FOLLOW_UP_DUE),
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


__all__ = ["fire_due", "SYSTEM"]
