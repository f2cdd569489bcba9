"""SLA clocks of tasks and complaints, rebuilt from the audit log on every read.

- A task's **acknowledge** clock runs from the task's creation until its first
  acknowledge/start/complete; its **resolve** clock runs from the creation of
  the first task of its transfer chain (a transfer re-evaluates the target on
  the new department's calendar and policy, counting from the start), paused
  while blocked or waiting.
- A task's **update** clock runs while the customer waits for an answer to a
  message, with the task department's update target (none: no clock).
- A complaint's clocks are the promise to the customer, on the customer
  calendar: **first response** (stopped by the first message that reached the customer, i.e. whose
  outbox row was delivered, or a contact recorded after the fact such as a phone call; an internal
  acknowledge does not stop it: issue 13), **resolve** (paused while awaiting the customer;
  time between resolve and reopen counts as paused) and **update** (runs only
  while the customer waits for an answer to a message).

:func:`refresh_due` stores the running clocks' due instants in ``due_at``
columns (None while paused or stopped), so the sweep finds what is due with
set-based queries; every service that changes a status calls it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from closeloop.config import Config
from closeloop.domain.complaint import ComplaintStatus
from closeloop.domain.sla import (
    COMPLAINT_FIRST_CONTACT_RULES,
    COMPLAINT_RESOLVE_RULES,
    CUSTOMER_CONTACTED,
    TASK_ACK_RULES,
    TASK_RESOLVE_RULES,
    ClockState,
    ClockStatus,
    MessageEvent,
    StatusChange,
    compute_clock,
    compute_update_clock,
)
from closeloop.domain.task import ACTIVE_STATES, TaskStatus
from closeloop.services.engine.ledger import History
from models.tables import Complaint, Message, Task, Transition


@dataclass(frozen=True)
class ClockView:
    """A clock with the calendar it runs on (for display in the calendar's zone). ``owner`` names its owner in
    English (the API, the command line); a page words it from the parts: ``task_id`` (None: the complaint's
    own clock), ``department``, ``improvement_id`` (an improvement action's task), ``complaint_id``."""

    owner: str  # "task 12 (operations)" or "complaint 5"
    clock: ClockState
    calendar_name: str
    zone: str
    complaint_id: int | None = None
    task_id: int | None = None
    department: str | None = None
    improvement_id: int | None = None
    #: a transferred task's resolve clock (status ``handed_over``): the successor task and its department
    handed_to_task: int | None = None
    handed_to_department: str | None = None


def complaint_owner(complaint_id: int) -> str:
    """The :attr:`ClockView.owner` of a complaint's own clocks (its tasks' read ``"task <id> (<department>)"``)."""
    return f"complaint {complaint_id}"


def _changes(session: Session, entity: str, ids: list[int]) -> list[StatusChange]:
    rows = session.execute(select(Transition.entity_id, Transition.at, Transition.to_state, Transition.id)
                           .where(Transition.entity == entity, Transition.entity_id.in_(ids))
                           .order_by(Transition.at, Transition.id)).all()
    return [StatusChange(at, st) for _, at, st, _ in rows]


def task_chain(session: Session, task: Task) -> list[Task]:
    """The task and the tasks it was transferred from, oldest first."""
    chain = [task]
    while chain[0].transferred_from_id is not None:
        chain.insert(0, session.get_one(Task, chain[0].transferred_from_id))
    return chain


def task_clocks(session: Session, task: Task, config: Config, now: datetime, *,
                with_update: bool = True, history: History | None = None,
                severity: str | None = None) -> list[ClockView]:
    """The acknowledge, resolve and (``with_update``) update clocks of ``task`` at ``now`` (UTC-aware), on
    its department's calendar (business hours). ``history`` is the preloaded :class:`History` of its
    complaint (loaded here when None). ``severity``: the one whose targets apply (the monthly review: the
    complaint's severity at a past month's end); None: the complaint's current one."""
    if task.complaint_id is None:
        return _action_clocks(session, task, config, now)
    h = history if history is not None else History.load(session, [task.complaint_id])
    complaint = h.complaints[task.complaint_id]
    targets = config.sla.for_department(task.department, severity or complaint.severity)
    cal = config.department_calendar(task.department)
    chain = h.chain(task)
    own = h.changes("task", [task.id])
    ratio = config.sla.at_risk_ratio
    ack = h.cached(_clock, "acknowledge", cal, targets.acknowledge, task.created_at, tuple(own), now,
                   TASK_ACK_RULES, ratio)
    history_ = tuple(c for c in h.changes("task", [t.id for t in chain]) if c.status != TaskStatus.TRANSFERRED)
    transferred_at = _transferred_at(own, now)
    resolve = h.cached(_clock, "resolve", cal, targets.resolve, chain[0].created_at, history_,
                       transferred_at or now, TASK_RESOLVE_RULES, ratio)
    owner = f"task {task.id} ({task.department})"
    zone = str(cal.zone)
    def view(clock: ClockState, successor: Task | None = None) -> ClockView:
        return ClockView(owner, clock, cal.name, zone, complaint_id=task.complaint_id, task_id=task.id,
                         department=task.department, handed_to_task=successor.id if successor else None,
                         handed_to_department=successor.department if successor else None)

    successor = (next((t for t in h.tasks.get(task.complaint_id, ()) if t.transferred_from_id == task.id), None)
                 if transferred_at is not None else None)
    views = [view(ack), view(_handed_over(resolve, transferred_at, now), successor)]
    if (with_update and targets.update is not None and task.status in ACTIVE_STATES
            and task.status != TaskStatus.WAITING):
        update = compute_update_clock(cal, targets.update, _messages(session, task.complaint_id), now,
                                      at_risk_ratio=ratio, not_before=task.created_at)
        if update is not None:
            views.append(view(update))
    return views


def _action_clocks(session: Session, task: Task, config: Config, now: datetime) -> list[ClockView]:
    """An improvement action's clocks: no acknowledge target; resolve = the business time from creation to
    its due date on the department's calendar (paused while waiting or blocked, like any task)."""
    cal = config.department_calendar(task.department)
    chain = task_chain(session, task)
    history = [c for c in _changes(session, "task", [t.id for t in chain]) if c.status != TaskStatus.TRANSFERRED]
    target = cal.business_time_between(chain[0].created_at, task.due_at) if task.due_at else None
    ack = compute_clock("acknowledge", cal, None, task.created_at, _changes(session, "task", [task.id]), now,
                        TASK_ACK_RULES)
    transferred_at = _transferred_at(_changes(session, "task", [task.id]), now)
    resolve = compute_clock("resolve", cal, target, chain[0].created_at, history, transferred_at or now,
                            TASK_RESOLVE_RULES, at_risk_ratio=config.sla.at_risk_ratio)
    owner = f"task {task.id} ({task.department}, improvement {task.improvement_id})"
    handed = _handed_over(resolve, transferred_at, now)
    successor = (session.scalars(select(Task).where(Task.transferred_from_id == task.id)).first()
                 if transferred_at is not None else None)
    return [ClockView(owner, c, cal.name, str(cal.zone), task_id=task.id, department=task.department,
                      improvement_id=task.improvement_id, handed_to_task=successor.id if successor else None,
                      handed_to_department=successor.department if successor else None) for c in (ack, handed)]


def _transferred_at(own: list[StatusChange], now: datetime) -> datetime | None:
    """When the task was transferred, if its own last status change up to ``now`` is the transfer (else None)."""
    last = next((c for c in reversed(own) if c.at <= now), None)
    return last.at if last is not None and last.status == TaskStatus.TRANSFERRED else None


def _handed_over(resolve: ClockState, transferred_at: datetime | None, now: datetime) -> ClockState:
    """A transferred task's ``resolve`` clock (computed up to ``transferred_at``) as stopped there: the work
    and its clock moved to the successor task (status ``handed_over``, no remaining time nor due instant;
    elapsed, paused and ``breached`` as they stood at the transfer). The chain's clock skips transfers (a
    successor counts from the chain's start), so without this a transferred task's clock ran on."""
    if transferred_at is None:
        return resolve
    return replace(resolve, as_of=now, status=ClockStatus.HANDED_OVER, remaining=None, due_at=None,
                   stopped_at=transferred_at)


def _clock(name: str, cal, target: timedelta | None, start: datetime, changes: tuple[StatusChange, ...],
           now: datetime, rules, ratio: float) -> ClockState:
    """:func:`~closeloop.domain.sla.compute_clock` with positional, hashable arguments (for
    :meth:`History.cached`)."""
    return compute_clock(name, cal, target, start, changes, now, rules, at_risk_ratio=ratio)


def _messages(session: Session, complaint_id: int) -> list[MessageEvent]:
    return [MessageEvent(at, d) for at, d in session.execute(
        select(Message.at, Message.direction).where(Message.complaint_id == complaint_id))]


def complaint_clocks(session: Session, complaint: Complaint, config: Config, now: datetime, *,
                     with_update: bool = True, history: History | None = None) -> list[ClockView]:
    """The complaint's first-response, resolve and (``with_update``) update clocks at ``now`` (UTC-aware),
    on the customer calendar (business hours); ``history`` as for :func:`task_clocks`."""
    targets = config.sla.for_customer(complaint.severity)
    cal = config.customer_calendar
    h = history if history is not None else History.load(session, [complaint.id])
    changes = h.changes("complaint", [complaint.id])
    ratio = config.sla.at_risk_ratio
    contacted = h.first_contact.get(complaint.id)
    contact = [StatusChange(contacted, CUSTOMER_CONTACTED)] if contacted is not None else []
    views = [
        h.cached(_clock, "first_response", cal, targets.acknowledge, complaint.received_at,
                 (*changes, *contact), now, COMPLAINT_FIRST_CONTACT_RULES, ratio),
        _complaint_resolve(h, complaint, config, now),
    ]
    if with_update and targets.update is not None and complaint.status not in (
            ComplaintStatus.MERGED, ComplaintStatus.REJECTED, ComplaintStatus.RESOLVED, ComplaintStatus.CLOSED):
        update = compute_update_clock(cal, targets.update, _messages(session, complaint.id), now,
                                      at_risk_ratio=ratio)
        if update is not None:
            views.append(update)
    owner = complaint_owner(complaint.id)
    return [ClockView(owner, c, cal.name, str(cal.zone), complaint_id=complaint.id) for c in views]


def _complaint_resolve(h: History, complaint: Complaint, config: Config, now: datetime) -> ClockState:
    """The complaint's resolve clock (customer calendar): the one clock of the complaint whose due instant is
    stored; it reads only the complaint's status changes (not the first contact)."""
    return h.cached(_clock, "resolve", config.customer_calendar, config.sla.for_customer(complaint.severity).resolve,
                    complaint.received_at, tuple(h.changes("complaint", [complaint.id])), now,
                    COMPLAINT_RESOLVE_RULES, config.sla.at_risk_ratio)


def _running_due(clock: ClockState) -> datetime | None:
    if clock.stopped_at is not None or clock.status in (ClockStatus.PAUSED, ClockStatus.NO_TARGET,
                                                         ClockStatus.CANCELLED):
        return None
    return clock.due_at


def refresh_due(session: Session, complaint_id: int, config: Config, now: datetime, *,
                history: History | None = None, tasks: list[Task] | None = None,
                audit: list[tuple] | None = None) -> None:
    """Recompute and store ``due_at``/``ack_due_at`` of the complaint and its tasks and flag it for
    rescheduling (no commit; the status change's pending rows are read without a flush when they allow it:
    ``History.load(unflushed=True)``, so the change and its due instants are written in one flush). Inside
    :func:`batched_refreshes` on ``session`` (and without ``history``) the complaint is only noted; the block
    refreshes it later, as this call would have. ``tasks``: every task of the complaint, when the caller holds
    them (the session's objects; then they are not read again); ``audit``: the complaint's stored audit rows
    (``ledger.stored_audit``), when the caller read them in this transaction and nothing was flushed since."""
    if history is None:
        noted = session.info.get(_NOTED)
        if noted is not None:
            noted[complaint_id] = (config, now)
            loaded = session.identity_map.get(identity_key(Complaint, complaint_id))
            if loaded is not None:  # kept until the block's refresh, which then need not read it again
                session.info[_HELD].append(loaded)
            return
    # the first contact is not read: no stored due instant depends on it (the first-response clock is shown only)
    h = history if history is not None else History.load(session, [complaint_id], unflushed=True, contacts=False,
                                                         tasks_of={complaint_id: tasks} if tasks else None,
                                                         audit_of={complaint_id: audit} if audit is not None else None)
    if complaint_id not in h.complaints:
        return
    due = due_instants(session, h, complaint_id, config, now)
    complaint = h.complaints[complaint_id]
    # set only what differs: an equal value is no change to the flush either, but setting it marks the row
    # modified, and the flush (and every pending-change check before it) then examines it
    if complaint.due_at != due.complaint:
        complaint.due_at = due.complaint
    if complaint.timers_dirty is not True:
        complaint.timers_dirty = True  # the next sweep reschedules its reminders and escalations
    for task in h.tasks.get(complaint_id, ()):
        ack, resolve = due.tasks.get(task.id, (None, None))
        if task.ack_due_at != ack:
            task.ack_due_at = ack
        if task.due_at != resolve:
            task.due_at = resolve


#: ``session.info`` key of the complaints :func:`refresh_due` noted inside :func:`batched_refreshes`
_NOTED = "closeloop.clocks.noted_refreshes"
#: ``session.info`` key of the noted complaints' loaded rows, held for the block (the session itself keeps an
#: unchanged row only while something refers to it)
_HELD = "closeloop.clocks.held_complaints"


@contextmanager
def batched_refreshes(session: Session) -> Iterator[dict[int, tuple[Config, datetime]]]:
    """A block of several changes in one transaction whose :func:`refresh_due` calls on ``session`` are
    gathered: each only notes ``complaint id -> (config, now)`` (a later call for the same complaint
    replaces the note), and the block's end refreshes every noted complaint at its last ``now``, in one
    :class:`History` load per ``(config, now)``, before the caller commits.

    The result is the one of refreshing at each call: a complaint's last refresh is the one that
    stays, and the changes do not read ``due_at``, ``ack_due_at`` or ``timers_dirty``; a caller about to
    change a noted complaint again refreshes it first (:func:`refresh_noted`). Yields the notes (a
    caller undoing a failed step in a savepoint restores them to a copy taken before it). Nothing is
    refreshed when the block raises (the transaction is rolled back). Not reentrant."""
    if _NOTED in session.info:
        raise RuntimeError("batched_refreshes is already active on this session")
    noted: dict[int, tuple[Config, datetime]] = {}
    session.info[_NOTED] = noted
    session.info[_HELD] = []
    try:
        yield noted
        refresh_noted(session)
    finally:
        session.info.pop(_NOTED, None)
        session.info.pop(_HELD, None)


def refresh_noted(session: Session, complaint_ids: Iterable[int] | None = None) -> None:
    """Refresh now the complaints noted inside :func:`batched_refreshes` (all, or those of
    ``complaint_ids``), grouped by ``(config, now)`` with one :class:`History` load per group."""
    noted = session.info.get(_NOTED)
    if not noted:
        return
    ids = list(noted) if complaint_ids is None else [c for c in complaint_ids if c in noted]
    groups: dict[tuple[int, datetime], list[int]] = {}
    configs: dict[int, Config] = {}
    for cid in ids:
        config, now = noted.pop(cid)
        configs[id(config)] = config
        groups.setdefault((id(config), now), []).append(cid)
    for (config_key, now), cids in groups.items():
        h = History.load(session, cids, contacts=False)  # as refresh_due's own load
        for cid in cids:
            refresh_due(session, cid, configs[config_key], now, history=h)


@dataclass
class DueInstants:
    """The due instants a complaint's rows should store (UTC; None while paused or stopped), and the
    active tasks' clocks by task id and name (``"acknowledge"``, ``"resolve"``) for the scheduler."""

    complaint: datetime | None
    tasks: dict[int, tuple[datetime | None, datetime | None]]  # task id -> (ack_due_at, due_at); active ones
    clocks: dict[int, dict[str, ClockState]]


def due_instants(session: Session, h: History, complaint_id: int, config: Config, now: datetime) -> DueInstants:
    """Compute (store nothing) the running clocks' due instants of the complaint ``complaint_id`` of ``h``
    and of its active tasks (inactive tasks store None)."""
    out = DueInstants(_running_due(_complaint_resolve(h, h.complaints[complaint_id], config, now)), {}, {})
    for task in h.tasks.get(complaint_id, ()):
        if task.status not in ACTIVE_STATES:
            continue
        clocks = {v.clock.name: v.clock for v in task_clocks(session, task, config, now, with_update=False,
                                                             history=h)}
        out.tasks[task.id] = (_running_due(clocks["acknowledge"]), _running_due(clocks["resolve"]))
        out.clocks[task.id] = clocks
    return out


@dataclass(frozen=True)
class DepartmentShare:
    """How much of the customer promise a department's tasks held: business hours on the customer calendar."""

    department: str
    tasks: int
    business_time: timedelta
    share_of_promise: float | None  # fraction of the complaint's elapsed resolve time; parallel tasks overlap


def promise_consumption(session: Session, complaint: Complaint, config: Config, now: datetime) -> list[DepartmentShare]:
    """Which departments' tasks consumed the customer's resolution promise (largest first).

    For every task of the complaint (transferred ones included: they held the
    complaint while they were open), the business time it was open, acknowledged
    or in progress, measured on the customer calendar up to ``now``.
    """
    cal = config.customer_calendar
    h = History.load(session, [complaint.id])
    promise = compute_clock("resolve", cal, None, complaint.received_at, h.changes("complaint", [complaint.id]),
                            now, COMPLAINT_RESOLVE_RULES)
    totals: dict[str, list] = {}
    for task in h.tasks.get(complaint.id, ()):
        held = compute_clock("held", cal, None, task.created_at, h.changes("task", [task.id]), now,
                             TASK_RESOLVE_RULES).elapsed
        entry = totals.setdefault(task.department, [0, held * 0])
        entry[0] += 1
        entry[1] += held
    total = promise.elapsed
    out = [DepartmentShare(d, n, t, (t / total) if total else None) for d, (n, t) in totals.items()]
    return sorted(out, key=lambda x: x.business_time, reverse=True)
