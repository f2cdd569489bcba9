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

import functools
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import groupby
from operator import itemgetter
from typing import NamedTuple, TypeVar

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.domain.calendar import BusinessCalendar
from closeloop.domain.complaint import ComplaintStatus, wait_end
from closeloop.domain.notices import TIMERS, TimerKind, TimerStatus
from closeloop.domain.sla import (
    COMPLAINT_RESOLVE_RULES,
    TASK_RESOLVE_RULES,
    ClockStatus,
    StatusChange,
    instants_at_elapsed,
)
from closeloop.domain.task import TaskStatus
from closeloop.services.bulk import execute_rows, insert_new, select_rows, unindexed
from closeloop.services.engine.clocks import DueInstants, _changes, due_instants, task_chain, task_clocks
from closeloop.services.engine.ledger import CHUNK, History, complaints_changed_after
from models.tables import Complaint, Task, Timer, Transition

_R = TypeVar("_R")

#: The ladder level that reaches the crisis owner.
CRISIS_LEVEL = 4


class WantedTimer(NamedTuple):
    """One timer a complaint's state wants (a tuple: hundreds of thousands are built per policy change)."""

    key: str
    kind: TimerKind
    fire_at: datetime
    task_id: int | None = None
    data: dict | None = None


def _business_days_later(cal, start: datetime, days: int) -> datetime:
    """The first opening on the ``days``-th working day after ``start``'s day (calendar zone)."""
    periods = cal.nth_working_day(start, days)
    return (periods[0][0] if periods else cal.next_opening(start)).astimezone(UTC)


#: Each kind's key template (``TIMERS[kind].key``), filled from the fields' dict as it is.
_KEYS = {kind: spec.key_format.format_map for kind, spec in TIMERS.items()}


def _want(kind: TimerKind, fire_at: datetime, task_id: int | None = None, data: dict | None = None,
          **key_fields) -> WantedTimer:
    return WantedTimer(_KEYS[kind](key_fields), kind, fire_at, task_id, data)


def ack_pages(cal, ack_due: datetime, every_hours: float, now: datetime, limit: int) -> list[tuple[int, datetime]]:
    """Acknowledgement pages (1-based number, UTC instant): the first at ``ack_due``, then one every
    ``every_hours`` business hours, ``limit`` pages at most; all that are due by ``now`` and the next one
    (the sweep schedules each next page when one fires: :func:`next_ack_page`). One calendar walk."""
    out = []
    for page, at in enumerate(cal.add_business_times(ack_due, _page_offsets(every_hours, limit), utc=True), start=1):
        out.append((page, at))
        if at > now:
            break
    return out


@functools.lru_cache(maxsize=64)
def _page_offsets(every_hours: float, limit: int) -> tuple[timedelta, ...]:
    """The business-time offsets of pages 1..``limit`` from the acknowledge due instant."""
    return tuple(timedelta(hours=every_hours * k) for k in range(limit))


@functools.lru_cache(maxsize=4096)
def _page_after(calendar: BusinessCalendar, fired_at: datetime, hours: float) -> datetime:
    """``hours`` business hours of ``calendar`` after ``fired_at``, memoised: the pages of tasks created
    together fire together (calendars are built once per configuration and compare by identity)."""
    return calendar.add_business_time(fired_at, timedelta(hours=hours))


def next_ack_page(config: Config, department: str, task_id: int, page: int, fired_at: datetime) -> WantedTimer | None:
    """The page after page ``page`` (fired at ``fired_at``, UTC) of task ``task_id``: ``ack_page_hours``
    business hours later on the department's calendar; None after ``ack_page_limit`` pages. The same key and
    instant :func:`task_timers` wants, so a later reschedule keeps the row."""
    esc = config.model.escalation
    if page >= esc.ack_page_limit:
        return None
    at = _page_after(config.department_calendar(department), fired_at.astimezone(UTC), esc.ack_page_hours)
    return _want(TimerKind.ACK_TIMEOUT, at.astimezone(UTC), task_id, {"page": page + 1}, task=task_id, page=page + 1)


def task_timers(session: Session, task: Task, config: Config, now: datetime, start_level: int = 1, *,
                history: History | None = None, clocks: dict | None = None,
                top_level: int = CRISIS_LEVEL) -> list[WantedTimer]:
    """Acknowledge timeout, pause expiry, reminders and the escalation ladder of one active task
    (a complaint's task or an improvement action), levels ``start_level`` to ``top_level``. ``history``:
    the preloaded history of the task's complaint; ``clocks``: its clocks by name, when the caller computed
    them already."""
    esc = config.model.escalation
    out: list[WantedTimer] = []
    cal = config.department_calendar(task.department)
    if clocks is None:
        clocks = {v.clock.name: v.clock for v in task_clocks(session, task, config, now, with_update=False,
                                                             history=history)}
    resolve, ack = clocks["resolve"], clocks["acknowledge"]
    if ack.due_at is not None and ack.stopped_at is None and ack.status != ClockStatus.PAUSED:
        for page, at in _call(history, ack_pages, cal, ack.due_at, esc.ack_page_hours, now, esc.ack_page_limit):
            out.append(_want(TimerKind.ACK_TIMEOUT, at, task.id, {"page": page}, task=task.id, page=page))
    if task.status == TaskStatus.WAITING:
        pause = _last_pause(session, task, history)
        until = (pause.data or {}).get("until") if pause else None
        if pause is not None and until:
            out.append(_want(TimerKind.TASK_PAUSE_EXPIRED, datetime.fromisoformat(until), task.id,
                             {"reason": pause.reason}, task=task.id, transition=pause.id))
    if resolve.target is None or resolve.due_at is None or resolve.status == ClockStatus.PAUSED:
        return out
    chain, changes = _chain_changes(session, task, history)
    reminders = _call(history, _reminders, cal, chain[0].created_at, changes, now, resolve.target,
                      tuple(esc.reminder_thresholds))
    for pct, reminder_at in zip(esc.reminder_thresholds, reminders, strict=True):
        if reminder_at is not None:
            out.append(_want(TimerKind.REMINDER, reminder_at, task.id, {"pct": round(pct * 100)},
                             task=task.id, pct=round(pct * 100)))
    levels = range(start_level, min(len(esc.ladder_hours), top_level) + 1)
    ladder = _call(history, _ladder, cal, resolve.due_at, tuple(esc.ladder_hours[lv - 1] for lv in levels))
    for level, at in zip(levels, ladder, strict=True):
        out.append(_want(TimerKind.ESCALATION, at, task.id, {"level": level},
                         task=task.id, level=level))
    return out


def _call(history: History | None, fn: Callable[..., _R], *args: Hashable) -> _R:
    """``fn(*args)``, once per batch through ``history`` (:meth:`History.cached`) when there is one."""
    return history.cached(fn, *args) if history is not None else fn(*args)


def _reminders(cal, start: datetime, changes: tuple[StatusChange, ...], now: datetime, target: timedelta,
               thresholds: tuple[float, ...]) -> list[datetime | None]:
    """The instants (UTC) at which the resolve clock has used each of ``thresholds`` of ``target``."""
    return instants_at_elapsed(cal, start, changes, now, TASK_RESOLVE_RULES, [target * pct for pct in thresholds])


def _ladder(cal, due_at: datetime, hours: tuple[float, ...]) -> list[datetime]:
    """The escalation instants (UTC): each of ``hours`` business hours after the resolve due instant."""
    return cal.add_business_times(due_at, [timedelta(hours=h) for h in hours], utc=True)


def _last_pause(session: Session, task: Task, history: History | None):
    """The task's latest audit row entering ``waiting`` (with ``id``, ``reason``, ``data``), or None."""
    if history is not None and task.complaint_id is not None:
        return history.last_entry(task.id, "waiting")
    return session.scalar(select(Transition).where(
        Transition.entity == "task", Transition.entity_id == task.id, Transition.to_state == TaskStatus.WAITING)
        .order_by(Transition.at.desc(), Transition.id.desc()).limit(1))


def _chain_changes(session: Session, task: Task, history: History | None
                   ) -> tuple[list[Task], tuple[StatusChange, ...]]:
    """The task's transfer chain (oldest first) and its status changes, transfers left out."""
    if history is not None and task.complaint_id is not None:
        chain = history.chain(task)
        changes = history.changes("task", [t.id for t in chain])
    else:
        chain = task_chain(session, task)
        changes = _changes(session, "task", [t.id for t in chain])
    return chain, tuple(c for c in changes if c.status != TaskStatus.TRANSFERRED)


def wanted_timers(session: Session, complaint: Complaint, config: Config, now: datetime, *,
                  history: History | None = None, due: DueInstants | None = None) -> list[WantedTimer]:
    """Every timer the complaint's current state wants at ``now`` (UTC-aware). ``history`` and ``due``
    (:func:`~closeloop.services.engine.clocks.due_instants`) are computed when not given."""
    esc = config.model.escalation
    out: list[WantedTimer] = []
    if complaint.status in (ComplaintStatus.MERGED, ComplaintStatus.REJECTED):
        return out
    h = history if history is not None else History.load(session, [complaint.id])
    d = due if due is not None else due_instants(session, h, complaint.id, config, now)
    start_level = esc.public_exposure_start_level if "public_exposure" in complaint.risk_flags else 1
    top = ladder_top(complaint, config)
    for task in h.tasks.get(complaint.id, ()):
        if task.id in d.clocks:
            out.extend(task_timers(session, task, config, now, start_level, history=h, clocks=d.clocks[task.id],
                                   top_level=top))
    if d.complaint is not None:  # the customer promise
        levels = [lv for lv in (3, 4) if lv <= top]
        hours = [esc.ladder_hours[min(level, len(esc.ladder_hours)) - 1] for level in levels]
        found = h.cached(_ladder, config.customer_calendar, d.complaint, tuple(hours))
        for level, at in zip(levels, found, strict=True):
            out.append(_want(TimerKind.PROMISE, at, None, {"level": level},
                             complaint=complaint.id, level=level))
    if complaint.transfer_count > esc.transfer_limit:
        out.append(_want(TimerKind.TRANSFERS, now, None, {"count": complaint.transfer_count},
                         complaint=complaint.id, n=complaint.transfer_count))
    out.extend(_ping_pong(h, complaint, config))
    out.extend(_status_timers(h, complaint, config))
    return out


def ladder_top(complaint: Complaint, config: Config) -> int:
    """The highest ladder level the complaint's escalations reach: the crisis owner (:data:`CRISIS_LEVEL`)
    only for ``[escalation] crisis_severities`` or ``crisis_risk_flags``, else the operations manager (3)."""
    esc = config.model.escalation
    crisis = complaint.severity in esc.crisis_severities or bool(set(complaint.risk_flags) & set(esc.crisis_risk_flags))
    return CRISIS_LEVEL if crisis else CRISIS_LEVEL - 1


def _status_timers(h: History, complaint: Complaint, config: Config) -> list[WantedTimer]:
    """The end of a wait on the customer, and the follow-up after resolution."""
    last = h.last_change(complaint.id)
    if complaint.status == ComplaintStatus.AWAITING_CUSTOMER and last is not None:
        # the wait ends at the earlier of its business-hour maximum and its "until" (one timer, one key)
        end = wait_end(config.customer_calendar, last.at, last.data)
        if end is not None:
            return [_want(TimerKind.PAUSE_EXPIRED, end.astimezone(UTC), None,
                          {"reason": last.reason}, complaint=complaint.id, transition=last.id)]
    if complaint.status == ComplaintStatus.RESOLVED and last is not None and last.to_state == ComplaintStatus.RESOLVED:
        days = config.model.follow_up.business_days.get(complaint.severity, 3)
        dep_cal = config.department_calendar(config.follow_up_department)
        return [_want(TimerKind.FOLLOW_UP, _business_days_later(dep_cal, last.at, days),
                      complaint=complaint.id, transition=last.id)]
    return []


def _ping_pong(h: History, complaint: Complaint, config: Config) -> list[WantedTimer]:
    """A transfer back to a department that passed the complaint on, within ``ping_pong_window_hours``
    (calendar hours) of leaving it: one escalation to the operations manager per such transfer, due
    at the transfer (A -> B -> A is caught at run time, not only in the monthly review)."""
    window = timedelta(hours=config.model.escalation.ping_pong_window_hours)
    left: dict[str, datetime] = {}
    out = []
    path: list[str] = []
    for hop in h.transfers.get(complaint.id, ()):
        src, dst = str(hop.data.get("from")), str(hop.data.get("to"))
        path = (path or [src]) + [dst]
        if dst in left and hop.at - left[dst] <= window:
            out.append(_want(TimerKind.PING_PONG, hop.at, None, {"department": dst, "path": " -> ".join(path)},
                             complaint=complaint.id, transition=hop.id))
        left[src] = hop.at
    return out


def reschedule(session: Session, complaint: Complaint, config: Config, now: datetime) -> tuple[int, int]:
    """Reconcile the stored timers of ``complaint`` with :func:`wanted_timers`.

    Manual reminders (set by a person) are left alone. Returns (inserted or moved,
    cancelled). Works in the caller's transaction; the caller clears ``timers_dirty``.
    """
    plan = TimerPlan()
    plan.add(wanted_timers(session, complaint, config, now), _existing(session, [complaint.id]).get(complaint.id, []),
             now, complaint_id=complaint.id)
    return plan.apply(session)


def reschedule_batch(session: Session, dirty: list[tuple[int, int]], config: Config, now: datetime,
                     deferred: set[int] | None = None) -> int:
    """Reschedule the complaints ``dirty`` (``(id, version)`` pairs read when they were found flagged) in a
    fixed number of statements, whatever their number: their history in five queries
    (:class:`~closeloop.services.engine.ledger.History`), their timers in one, then bulk inserts and updates.

    Also stores the due instants that changed (``complaint.due_at``, ``task.due_at``/``ack_due_at``), so a
    new policy reaches the stored columns too (K10), and clears ``timers_dirty``. A complaint changed by
    someone else since it was read (its ``version`` moved) is left dirty and untouched by these writes
    (the next sweep takes it). Returns how many complaints were rescheduled.

    A complaint with an audit row stamped after ``now`` (a sweep run as of a past moment,
    ``CLOSELOOP_CLOCK_AT``) is skipped: its ledger read as of ``now`` ends before its latest change, and
    timers or due instants computed from it would be wrong for the complaint as it is. It stays flagged for a
    sweep at or after its latest change, untouched; its id is added to ``deferred`` when given."""
    late = complaints_changed_after(session, [cid for cid, _ in dirty], now)
    if late:
        dirty = [(cid, v) for cid, v in dirty if cid not in late]
        if deferred is not None:
            deferred.update(late)
    h = History.load(session, [cid for cid, _ in dirty], plain=True)
    existing = _existing(session, [cid for cid, _ in dirty])
    plan = TimerPlan()
    due_rows: list[dict] = []
    task_rows: list[dict] = []
    for cid, version in dirty:
        c = h.complaints.get(cid)
        if c is None:
            continue
        gone = c.status in (ComplaintStatus.MERGED, ComplaintStatus.REJECTED)
        d = None if gone else due_instants(session, h, cid, config, now)
        plan.add(wanted_timers(session, c, config, now, history=h, due=d), existing.get(cid, []), now,
                 complaint_id=cid)
        if d is not None:
            _due_changes(h, c, version, d, due_rows, task_rows)
    plan.apply(session)
    ct, tt = Complaint.__table__, Task.__table__
    execute_rows(session, update(ct).where(ct.c.id == bindparam("b_id"), ct.c.version == bindparam("b_version"))
                 .values(due_at=bindparam("b_due")), due_rows)
    execute_rows(session, update(tt).where(tt.c.id == bindparam("b_id"), tt.c.version == bindparam("b_version"))
                 .values(due_at=bindparam("b_due"), ack_due_at=bindparam("b_ack")),
                 sorted(task_rows, key=lambda r: r["b_id"]))
    execute_rows(session, update(ct).where(ct.c.id == bindparam("b_id"), ct.c.version == bindparam("b_version"))
                 .values(timers_dirty=False), [{"b_id": cid, "b_version": v} for cid, v in dirty])
    return len(h.complaints)


def _due_changes(h: History, c: Complaint, version: int, d: DueInstants, due_rows: list, task_rows: list) -> None:
    """Collect the stored due instants that differ from ``d`` (complaint and tasks, version-checked)."""
    if c.due_at != d.complaint:
        due_rows.append({"b_id": c.id, "b_version": version, "b_due": d.complaint})
    for t in h.tasks.get(c.id, ()):
        ack, due = d.tasks.get(t.id, (None, None))
        if (t.ack_due_at, t.due_at) != (ack, due):
            task_rows.append({"b_id": t.id, "b_version": t.version, "b_due": due, "b_ack": ack})


class StoredTimer(NamedTuple):
    """A stored timer as :class:`TimerPlan` compares it with the wanted ones."""

    id: int
    key: str
    kind: str
    status: str
    fire_at: datetime
    complaint_id: int | None


_TT = Timer.__table__
# by complaint: the order SQLite's ``ix_timer_complaint_id`` gives them anyway (no sort), so they are grouped in C
_STORED = (select(*(_TT.c[n] for n in StoredTimer._fields))
           .where(_TT.c.complaint_id.in_(bindparam("ids", expanding=True))).order_by(_TT.c.complaint_id))


#: A selected row as a :class:`StoredTimer` (``tuple.__new__``: no Python-level ``_make`` call per row).
_stored = functools.partial(tuple.__new__, StoredTimer)


def _existing(session: Session, complaint_ids: list[int]) -> dict[int, list[StoredTimer]]:
    """The stored timers of ``complaint_ids``, by complaint (plain rows: 23 per complaint of a
    policy change's 100,000)."""
    session.flush()
    out: dict[int, list[StoredTimer]] = {}
    for i in range(0, len(complaint_ids), CHUNK):
        rows = map(_stored, select_rows(session, _STORED, {"ids": complaint_ids[i:i + CHUNK]}))
        out.update((cid, list(group)) for cid, group in groupby(rows, key=_COMPLAINT_OF))
    return out


_COMPLAINT_OF = itemgetter(StoredTimer._fields.index("complaint_id"))


@dataclass
class TimerPlan:
    """The writes that make stored timers match the wanted ones, collected over many owners and applied
    in bulk: rows to insert (skipped if the key exists), to move (a cancelled row set pending at a new
    instant, its data rewritten), to shift (a pending row's instant only: a key's data follows from the key
    and the audit rows it names, and the instant alone is a third cheaper to rewrite on SQLite, where a
    policy change shifts millions) and to cancel. Fired timers and manual reminders are never touched."""

    inserts: list[dict] = field(default_factory=list)
    moves: list[dict] = field(default_factory=list)
    shifts: list[tuple[int, datetime]] = field(default_factory=list)  # (id, new fire_at)
    cancels: list[int] = field(default_factory=list)

    def add(self, wanted_list: list[WantedTimer], existing_rows, now: datetime, *,
            complaint_id: int | None = None, improvement_id: int | None = None) -> None:
        """Plan one owner's timers: ``existing_rows`` are its stored rows (id, key, kind, status, fire_at)."""
        wanted = {w.key: w for w in wanted_list}
        existing = {t.key: t for t in existing_rows}
        for key, w in wanted.items():
            t = existing.get(key)
            if t is None:
                self.inserts.append({"key": key, "kind": w.kind, "complaint_id": complaint_id,
                                     "improvement_id": improvement_id, "task_id": w.task_id, "fire_at": w.fire_at,
                                     "status": TimerStatus.PENDING, "data": w.data or {}, "created_at": now})
            elif t.status == TimerStatus.PENDING:
                if t.fire_at != w.fire_at:
                    self.shifts.append((t.id, w.fire_at))
            elif t.status != TimerStatus.FIRED:
                self.moves.append({"b_id": t.id, "b_fire_at": w.fire_at, "b_data": w.data or {}})
        self.cancels.extend(t.id for key, t in existing.items() if key not in wanted
                            and t.status == TimerStatus.PENDING and t.kind != TimerKind.MANUAL_REMINDER)

    def apply(self, session: Session) -> tuple[int, int]:
        """Write the plan (one statement per kind of write and page); returns (inserted or moved, cancelled)."""
        tt = Timer.__table__
        # one order for every writer (keys, ids ascending): two sweeps meeting on a row wait, never deadlock
        inserted = insert_new(session, tt, sorted(self.inserts, key=lambda r: r["key"]), key=["key"],
                              returning=tt.c.id)
        execute_rows(session, update(tt).where(tt.c.id == bindparam("b_id"), tt.c.status != TimerStatus.FIRED)
                     .values(status=TimerStatus.PENDING, fire_at=bindparam("b_fire_at"), data=bindparam("b_data")),
                     sorted(self.moves, key=lambda r: r["b_id"]))
        execute_rows(session, update(tt).where(tt.c.id == bindparam("b_id"), tt.c.status == TimerStatus.PENDING)
                     .values(fire_at=bindparam("b_fire_at")), sorted(self.shifts), ("b_id", "b_fire_at"))
        cancels = sorted(self.cancels)
        for i in range(0, len(cancels), CHUNK):
            session.execute(update(tt).where(tt.c.id.in_(cancels[i:i + CHUNK]),
                                             unindexed(tt.c.status) == TimerStatus.PENDING)
                            .values(status=TimerStatus.CANCELLED))
        return len(inserted) + len(self.moves) + len(self.shifts), len(self.cancels)


def reconcile(session: Session, wanted_list: list[WantedTimer], existing_rows, now: datetime, *,
              complaint_id: int | None = None, improvement_id: int | None = None) -> tuple[int, int]:
    """Insert, move or cancel stored timers so the pending ones are exactly ``wanted_list``
    (fired ones and manual reminders are never touched). Returns (inserted or moved, cancelled)."""
    plan = TimerPlan()
    plan.add(wanted_list, existing_rows, now, complaint_id=complaint_id, improvement_id=improvement_id)
    return plan.apply(session)


__all__ = ["reschedule", "reschedule_batch", "reconcile", "TimerPlan", "next_ack_page", "task_timers",
           "wanted_timers", "WantedTimer", "StatusChange", "COMPLAINT_RESOLVE_RULES"]
