"""The one path of every status change: guard -> fire -> apply -> audit -> clocks.

:func:`apply` is the only code that changes the status of a complaint, a task, an improvement record,
a promise to the customer or a compensation entry. For one trigger on one loaded row it

1. gathers the row's :class:`~closeloop.domain.guards.Facts` (reason, root cause, task kind, an
   improvement record's action counts) when the trigger has guards;
2. fires the entity's machine (``closeloop.domain.complaint|task|improvement``): the edge table
   (``IllegalTransition`` naming the state) and then the trigger's guards (``InvalidInput`` naming the
   field: "resolve needs a root cause" is ``COMPLAINT_GUARDS`` beside the ``resolve`` edge);
3. applies the result: ``status``, ``updated_at`` and derived stamps (``_STAMPS``: ``resolved_at``,
   ``kept_at``, ``broken_at``, ``decided_at``; a reopen clears ``resolved_at``: ``_CLEARED``);
4. writes the audit row (``Transition``) the clocks, the reports and the timeline read;
5. flags the clocks: the complaint (or the record of an action task) is marked ``timers_dirty`` so the
   next sweep reschedules its reminders and escalations; a use case that knows the configuration also
   recomputes the stored due instants at once (``clocks.refresh_due``).

Changes that are not a status change but belong in the same audit trail (reprioritize, reassign, a
follow-up verdict) go through :func:`record_event`. Optimistic locking for callers that read earlier is
:func:`check_version`. No commit happens here: the use case's unit of work commits.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from closeloop.domain.compensation import COMPENSATION_MACHINE, CompensationStatus
from closeloop.domain.complaint import COMPLAINT_MACHINE, ComplaintStatus
from closeloop.domain.errors import Conflict
from closeloop.domain.guards import Facts
from closeloop.domain.improvement import IMPROVEMENT_MACHINE, ImprovementStatus
from closeloop.domain.machine import Machine, TransitionRecord
from closeloop.domain.promise import PROMISE_MACHINE, PromiseStatus
from closeloop.domain.task import ACTIVE_STATES, TASK_MACHINE, TaskStatus
from closeloop.services.audit import audit_dict, audit_row
from models.tables import Compensation, Complaint, Improvement, Promise, Task, Transition

Row = Complaint | Task | Improvement | Promise | Compensation

_MACHINES: dict[type, tuple[Machine[Any, Any], type[StrEnum]]] = {
    Complaint: (COMPLAINT_MACHINE, ComplaintStatus),
    Task: (TASK_MACHINE, TaskStatus),
    Improvement: (IMPROVEMENT_MACHINE, ImprovementStatus),
    Promise: (PROMISE_MACHINE, PromiseStatus),
    Compensation: (COMPENSATION_MACHINE, CompensationStatus),
}

#: Derived stamps: entering the status (of that row type) sets the named column to the transition's instant.
_STAMPS: dict[tuple[type, str], str] = {
    (Complaint, ComplaintStatus.RESOLVED): "resolved_at",
    (Promise, PromiseStatus.KEPT): "kept_at",
    (Promise, PromiseStatus.BROKEN): "broken_at",
    (Compensation, CompensationStatus.APPROVED): "decided_at",
    (Compensation, CompensationStatus.REJECTED): "decided_at",
}

#: Stamps entering the status clears: a reopened complaint is not resolved (``resolved_at`` is the current
#: resolution's instant, None while the complaint is open; every resolution stays in the audit trail, which is
#: what the replay report's open-by-day series reads).
_CLEARED: dict[tuple[type, str], str] = {
    (Complaint, ComplaintStatus.REOPENED): "resolved_at",
}


def check_version(row, expected_version: int | None, entity: str) -> None:
    """Optimistic locking for callers that read earlier (API): ``expected_version`` must be the
    row's current ``version``, else ``Conflict``. None skips the check (CLI, flows)."""
    if expected_version is not None and row.version != expected_version:
        raise Conflict(f"{entity} {row.id} is at version {row.version}, not {expected_version}: "
                       f"it was changed since it was read; reload and retry")


def _complaint_id(row: Row) -> int | None:
    if isinstance(row, Complaint):
        return row.id
    return None if isinstance(row, Improvement) else row.complaint_id


def _facts(session: Session, row: Row, entity: str, reason: str | None) -> Facts:
    subject = f"{entity} {row.id}"
    if isinstance(row, Task):
        complaint = session.get(Complaint, row.complaint_id) if row.complaint_id is not None else None
        return Facts(subject=subject, reason=reason, kind=row.kind,
                     root_cause=complaint.root_cause if complaint is not None else None)
    if isinstance(row, Improvement):
        counts = dict(session.execute(select(Task.status, func.count()).where(Task.improvement_id == row.id)
                                      .group_by(Task.status)).all())
        rework = _latest_rework(session, row.id)
        finished = counts.get(TaskStatus.DONE, 0) if rework is None else _finished_since(session, row.id, rework)
        return Facts(subject=subject, reason=reason, root_cause=row.root_cause, actions_finished=finished,
                     actions_open=sum(n for st, n in counts.items() if st in ACTIVE_STATES),
                     reworked=rework is not None)
    return Facts(subject=subject, reason=reason, root_cause=getattr(row, "root_cause", None))


def _latest_rework(session: Session, record_id: int) -> int | None:
    """The id of the improvement record's latest ``rework`` audit row (None if it was never reworked)."""
    return session.scalar(select(func.max(Transition.id)).where(
        Transition.entity == "improvement", Transition.entity_id == record_id, Transition.trigger == "rework"))


def _finished_since(session: Session, record_id: int, rework_id: int) -> int:
    """How many of the record's actions are done and entered ``done`` after audit row ``rework_id`` (audit
    rows are numbered in the order written): the actions of the implementation a check found ineffective
    do not implement the record again."""
    done_after = select(Transition.id).where(Transition.entity == "task", Transition.entity_id == Task.id,
                                             Transition.to_state == TaskStatus.DONE, Transition.id > rework_id)
    return session.scalar(select(func.count()).select_from(Task).where(
        Task.improvement_id == record_id, Task.status == TaskStatus.DONE, done_after.exists())) or 0


def _flag_clocks(session: Session, row: Row) -> None:
    """Timers hang on complaints (their tasks') and improvement records (their actions'); a promise's
    reminder and breach are found by the sweep from its ``due_at``, compensation has no clock."""
    if isinstance(row, Task):
        if row.complaint_id is not None:
            _flag(session.get_one(Complaint, row.complaint_id))
        elif row.improvement_id is not None:
            _flag(session.get_one(Improvement, row.improvement_id))
    elif isinstance(row, Complaint | Improvement):
        _flag(row)


def _flag(row: Complaint | Improvement) -> None:
    """Set ``timers_dirty`` unless it is set already: setting an equal value changes nothing stored, but marks
    the row modified for the flush to examine (a task's status change need not touch its complaint)."""
    if row.timers_dirty is not True:
        row.timers_dirty = True


def apply(session: Session, row: Row, trigger: StrEnum, *, at: datetime, actor: str, reason: str | None = None,
          data: dict | None = None) -> TransitionRecord:
    """Fire ``trigger`` on the loaded ``row`` (a ``Complaint``, ``Task``, ``Improvement``, ``Promise`` or
    ``Compensation``) at the UTC-aware
    instant ``at``, and apply, audit and flag it (no commit). Returns the accepted transition.

    Raises ``IllegalTransition`` (the trigger is not allowed in the row's status; nothing changes) or
    ``InvalidInput`` naming the field of the guard that failed (for example ``reason`` or ``root_cause``).
    """
    machine, status_type = _MACHINES[type(row)]
    guarded = bool(machine.guards.get(trigger))
    machine.next_state(status_type(row.status), trigger)  # an illegal trigger fails before any fact is read
    facts = _facts(session, row, machine.entity, reason) if guarded else None
    rec = machine.fire(status_type(row.status), trigger, at=at, actor=actor, reason=reason, data=data,
                       facts=facts)
    row.status = rec.to_state
    if isinstance(row, Complaint | Task | Improvement):  # promises and compensation keep their own stamps
        row.updated_at = at
    stamp = _STAMPS.get((type(row), rec.to_state))
    if stamp is not None:
        setattr(row, stamp, at)
    cleared = _CLEARED.get((type(row), rec.to_state))
    if cleared is not None:
        setattr(row, cleared, None)
    session.add(audit_row(rec, row.id, _complaint_id(row)))
    _flag_clocks(session, row)
    return rec


def record_event(session: Session, row: Row, event: str, *, at: datetime, actor: str, reason: str | None = None,
                 data: dict | None = None, touch: bool = True) -> None:
    """Audit a change that keeps the status (``event``: ``reprioritize``, ``assign``, ``follow_up``, ``absorb``,
    ``root_cause``, ``compensation``, ...): one ``Transition`` row with from = to = the row's status, and
    ``updated_at`` set unless ``touch`` is False (a change beside the row, such as a compensation entry, that
    leaves its version as it was). No commit."""
    entity = _MACHINES[type(row)][0].entity
    if touch and isinstance(row, Complaint | Task | Improvement):
        row.updated_at = at
    session.add(Transition(**audit_dict(entity, row.id, _complaint_id(row), row.status, row.status, event, actor,
                                        at, reason=reason, data=data)))
