"""Durable timers: what must happen when, for one complaint, derived from its current state.

:func:`reschedule` computes the wanted timers of a complaint and its tasks
and reconciles them with the stored rows: new keys are inserted, moved ones
get their new ``fire_at``, ones the state no longer wants are cancelled, and
fired ones are never touched again (so nothing fires twice). Keys:

Every kind, its key format, when it is wanted and who it reaches is declared once in
:data:`closeloop.domain.notices.TIMERS` (the README's rules table is generated from it).

Paused or stopped clocks want no reminder or escalation: their pending timers
are cancelled, and come back (same key, new instant) when the clock runs again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.domain.notices import TIMERS, TimerKind
from closeloop.domain.sla import (
    COMPLAINT_RESOLVE_RULES,
    TASK_RESOLVE_RULES,
    StatusChange,
    instant_at_elapsed,
)
from closeloop.domain.task import ACTIVE_STATES
from models.tables import Complaint, Task, Timer, Transition

from .clocks import _changes, task_chain, task_clocks


@dataclass(frozen=True)
class WantedTimer:
    key: str
    kind: TimerKind
    fire_at: datetime
    task_id: int | None = None
    data: dict | None = None


def _business_days_later(cal, start: datetime, days: int) -> datetime:
    """The first opening on the ``days``-th working day after ``start``'s day (calendar zone)."""
    periods = cal.nth_working_day(start, days)
    return (periods[0][0] if periods else cal.next_opening(start)).astimezone(UTC)


def _want(kind: TimerKind, fire_at: datetime, task_id: int | None = None, data: dict | None = None,
          **key_fields) -> WantedTimer:
    return WantedTimer(TIMERS[kind].key(**key_fields), kind, fire_at, task_id, data)


def ack_pages(cal, ack_due: datetime, every_hours: float, now: datetime) -> list[tuple[int, datetime]]:
    """Acknowledgement pages (1-based number, UTC instant): the first at ``ack_due``, then one every
    ``every_hours`` business hours; all that are due by ``now`` and the next one (the chain goes on,
    one step per sweep, until the task is acknowledged)."""
    out, at, page = [], ack_due, 1
    while True:
        out.append((page, at.astimezone(UTC)))
        if at > now or page >= 1000:
            return out
        at, page = cal.add_business_time(at, timedelta(hours=every_hours)), page + 1


def task_timers(session: Session, task: Task, config: Config, now: datetime, start_level: int = 1) -> list[WantedTimer]:
    """Acknowledge timeout, pause expiry, reminders and the escalation ladder of one active task
    (a complaint's task or an improvement action)."""
    esc = config.model.escalation
    out: list[WantedTimer] = []
    cal = config.department_calendar(task.department)
    clocks = {v.clock.name: v.clock for v in task_clocks(session, task, config, now, with_update=False)}
    resolve, ack = clocks["resolve"], clocks["acknowledge"]
    if ack.due_at is not None and ack.stopped_at is None and ack.status != "paused":
        for page, at in ack_pages(cal, ack.due_at, esc.ack_page_hours, now):
            out.append(_want(TimerKind.ACK_TIMEOUT, at, task.id, {"page": page}, task=task.id, page=page))
    if task.status == "waiting":
        pause = session.scalar(select(Transition).where(
            Transition.entity == "task", Transition.entity_id == task.id, Transition.to_state == "waiting")
            .order_by(Transition.at.desc(), Transition.id.desc()).limit(1))
        until = (pause.data or {}).get("until") if pause else None
        if pause is not None and until:
            out.append(_want(TimerKind.TASK_PAUSE_EXPIRED, datetime.fromisoformat(until), task.id,
                             {"reason": pause.reason}, task=task.id, transition=pause.id))
    if resolve.target is None or resolve.due_at is None or resolve.status == "paused":
        return out
    chain = task_chain(session, task)
    history = [c for c in _changes(session, "task", [t.id for t in chain]) if c.status != "transferred"]
    for pct in esc.reminder_thresholds:
        reminder_at = instant_at_elapsed(cal, chain[0].created_at, history, now, TASK_RESOLVE_RULES,
                                         resolve.target * pct)
        if reminder_at is not None:
            out.append(_want(TimerKind.REMINDER, reminder_at, task.id, {"pct": round(pct * 100)},
                             task=task.id, pct=round(pct * 100)))
    for level in range(start_level, len(esc.ladder_hours) + 1):
        at = cal.add_business_time(resolve.due_at, timedelta(hours=esc.ladder_hours[level - 1]))
        out.append(_want(TimerKind.ESCALATION, at.astimezone(UTC), task.id, {"level": level},
                         task=task.id, level=level))
    return out


def wanted_timers(session: Session, complaint: Complaint, config: Config, now: datetime) -> list[WantedTimer]:
    esc = config.model.escalation
    out: list[WantedTimer] = []
    if complaint.status in ("merged", "rejected"):
        return out
    start_level = esc.public_exposure_start_level if "public_exposure" in complaint.risk_flags else 1
    for task in session.scalars(select(Task).where(Task.complaint_id == complaint.id,
                                                   Task.status.in_(ACTIVE_STATES))):
        out.extend(task_timers(session, task, config, now, start_level))

    # the customer promise, transfers, waiting on the customer, follow-up
    if complaint.due_at is not None:
        cal = config.customer_calendar
        for level in (3, 4):
            at = cal.add_business_time(complaint.due_at,
                                       timedelta(hours=esc.ladder_hours[min(level, len(esc.ladder_hours)) - 1]))
            out.append(_want(TimerKind.PROMISE, at.astimezone(UTC), None, {"level": level},
                             complaint=complaint.id, level=level))
    if complaint.transfer_count > esc.transfer_limit:
        out.append(_want(TimerKind.TRANSFERS, now, None, {"count": complaint.transfer_count},
                         complaint=complaint.id, n=complaint.transfer_count))
    out.extend(_ping_pong(session, complaint, config))
    last = session.scalar(select(Transition).where(Transition.entity == "complaint",
                                                   Transition.entity_id == complaint.id,
                                                   Transition.from_state.is_not(None),
                                                   Transition.to_state != Transition.from_state)
                          .order_by(Transition.at.desc(), Transition.id.desc()).limit(1))
    if complaint.status == "awaiting_customer" and last is not None:
        # the wait ends at the earlier of its business-hour maximum and its "until" (one timer, one key)
        ends = []
        max_h = (last.data or {}).get("max_business_hours")
        if max_h:
            ends.append(config.customer_calendar.add_business_time(last.at, timedelta(hours=float(max_h))))
        until = (last.data or {}).get("until")
        if until:
            ends.append(datetime.fromisoformat(until))
        if ends:
            out.append(_want(TimerKind.PAUSE_EXPIRED, min(ends).astimezone(UTC), None,
                             {"reason": last.reason}, complaint=complaint.id, transition=last.id))
    if complaint.status == "resolved" and last is not None and last.to_state == "resolved":
        days = config.model.follow_up.business_days.get(complaint.severity, 3)
        dep_cal = config.department_calendar(config.follow_up_department)
        out.append(_want(TimerKind.FOLLOW_UP, _business_days_later(dep_cal, last.at, days),
                         complaint=complaint.id, transition=last.id))
    return out


def _ping_pong(session: Session, complaint: Complaint, config: Config) -> list[WantedTimer]:
    """A transfer back to a department that passed the complaint on, within ``ping_pong_window_hours``
    (calendar hours) of leaving it: one escalation to the operations manager per such transfer, due
    at the transfer (A -> B -> A is caught at run time, not only in the monthly review)."""
    window = timedelta(hours=config.model.escalation.ping_pong_window_hours)
    hops = session.execute(select(Transition.id, Transition.at, Transition.data).where(
        Transition.complaint_id == complaint.id, Transition.entity == "task", Transition.trigger == "transfer")
        .order_by(Transition.at, Transition.id)).all()
    left: dict[str, datetime] = {}
    out = []
    path: list[str] = []
    for tid, at, data in hops:
        src, dst = str((data or {}).get("from")), str((data or {}).get("to"))
        path = (path or [src]) + [dst]
        if dst in left and at - left[dst] <= window:
            out.append(_want(TimerKind.PING_PONG, at, None, {"department": dst, "path": " -> ".join(path)},
                             complaint=complaint.id, transition=tid))
        left[src] = at
    return out


def reschedule(session: Session, complaint: Complaint, config: Config, now: datetime) -> tuple[int, int]:
    """Reconcile the stored timers of ``complaint`` with :func:`wanted_timers`.

    Manual reminders (set by a person) are left alone. Returns (inserted or moved,
    cancelled). Works in the caller's transaction; the caller clears ``timers_dirty``.
    """
    existing = session.scalars(select(Timer).where(Timer.complaint_id == complaint.id))
    return reconcile(session, wanted_timers(session, complaint, config, now), existing, now,
                     complaint_id=complaint.id)


def reconcile(session: Session, wanted_list: list[WantedTimer], existing_rows, now: datetime, *,
              complaint_id: int | None = None, improvement_id: int | None = None) -> tuple[int, int]:
    """Insert, move or cancel stored timers so the pending ones are exactly ``wanted_list``
    (fired ones and manual reminders are never touched). Returns (inserted or moved, cancelled)."""
    wanted = {w.key: w for w in wanted_list}
    existing = {t.key: t for t in existing_rows}
    changed = cancelled = 0
    for key, w in wanted.items():
        t = existing.get(key)
        if t is None:
            session.add(Timer(key=key, kind=w.kind, complaint_id=complaint_id, improvement_id=improvement_id,
                              task_id=w.task_id, fire_at=w.fire_at, status="pending", data=w.data or {},
                              created_at=now))
            changed += 1
        elif t.status != "fired" and (t.status != "pending" or t.fire_at != w.fire_at):
            t.status, t.fire_at, t.data = "pending", w.fire_at, w.data or {}
            changed += 1
    for key, t in existing.items():
        if key not in wanted and t.status == "pending" and t.kind != TimerKind.MANUAL_REMINDER:
            t.status = "cancelled"
            cancelled += 1
    return changed, cancelled


__all__ = ["reschedule", "reconcile", "task_timers", "wanted_timers", "WantedTimer", "StatusChange",
           "COMPLAINT_RESOLVE_RULES"]
