"""Complaint use cases: merge duplicates, read one complaint with its timeline, list.

Merge rules (CASES.md kind K5 and K7):

- the duplicate becomes ``merged`` (terminal: no tasks, no due time) and points
  at the *root* survivor; a target that is itself merged resolves to its root,
  and complaints already merged into the duplicate are re-pointed, so every
  chain has length one;
- the duplicate's tasks and messages move to the survivor; an active task that
  the survivor already has (same department and kind) is cancelled instead;
- so do its promises to the customer (kept by a task or a contact that now lives on
  the survivor), its compensation entries (the survivor's cap then counts them: one
  customer issue, one cap), its attachments and its note mentions; the audit rows and
  the inbound mails stay where they happened;
- the survivor's own due time and status are unchanged;
- both rows are version-checked: of two opposite merges racing, one commits
  and the other raises ``Conflict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from closeloop.config import Config
from closeloop.domain.complaint import MERGEABLE_STATES, ComplaintStatus, ComplaintTrigger
from closeloop.domain.dedupe import check_merge
from closeloop.domain.errors import InvalidInput, MergeRejected, NotFound
from closeloop.domain.reasons import SystemReason, stored_reason, system_reason
from closeloop.domain.task import ACTIVE_STATES, TaskStatus, TaskTrigger
from closeloop.services.customers.links import redact
from closeloop.services.engine.clocks import refresh_due
from closeloop.services.transitions import apply, check_version, record_event
from closeloop.services.uow import unit_of_work
from models.tables import (
    Attachment,
    Compensation,
    Complaint,
    Mention,
    Message,
    Promise,
    Task,
    Timer,
    Transition,
)


def _get(session: Session, complaint_id: int) -> Complaint:
    c = session.get(Complaint, complaint_id)
    if c is None:
        raise NotFound("complaint", complaint_id)
    return c


def root_of(session: Session, complaint_id: int) -> Complaint:
    """The surviving root of ``complaint_id``'s merge chain (itself if not merged)."""
    c = _get(session, complaint_id)
    seen = {c.id}
    while c.merged_into_id is not None:
        c = _get(session, c.merged_into_id)
        if c.id in seen:
            raise MergeRejected(f"merge chain of complaint {complaint_id} loops at {c.id}")
        seen.add(c.id)
    return c


def merge_in_session(session: Session, duplicate_id: int, into_id: int, *, config: Config, actor: str,
                     at: datetime, reason: str | None = None) -> Complaint:
    """Merge inside the caller's transaction; returns the survivor (see module docstring)."""
    dup = _get(session, duplicate_id)
    if dup.status == ComplaintStatus.MERGED:
        raise MergeRejected(f"complaint {duplicate_id} is already merged into {dup.merged_into_id}")
    survivor = root_of(session, into_id)
    if survivor.id == dup.id and into_id != dup.id:
        raise MergeRejected(f"complaint {into_id} is already merged into {dup.id}; merge the other way, if at all")
    check_merge(dup.id, survivor.id)
    if survivor.status in (ComplaintStatus.RESOLVED, ComplaintStatus.CLOSED) and session.scalar(
            select(func.count()).select_from(Task).where(Task.complaint_id == dup.id, Task.status.in_(ACTIVE_STATES))):
        raise MergeRejected(f"complaint {survivor.id} is {survivor.status} and complaint {dup.id} still has open "
                            f"tasks; reopen {survivor.id} first, or merge {survivor.id} into {dup.id}")
    if survivor.status not in MERGEABLE_STATES:
        raise MergeRejected(f"complaint {survivor.id} is {survivor.status}; it cannot absorb a duplicate")
    # lock both rows in id order: opposite merges racing wait for each other instead of deadlocking,
    # and the loser's version check then fails (Conflict)
    session.execute(select(Complaint.id).where(Complaint.id.in_(sorted({dup.id, survivor.id})))
                    .order_by(Complaint.id).with_for_update())
    apply(session, dup, ComplaintTrigger.MERGE, at=at, actor=actor, reason=reason,
          data={"into": survivor.id, "requested_into": into_id})
    dup.merged_into_id = survivor.id
    dup.due_at = None
    session.execute(update(Complaint).where(Complaint.merged_into_id == dup.id)
                    .values(merged_into_id=survivor.id, version=Complaint.version + 1),
                    execution_options={"synchronize_session": False})

    survivor_active = {(t.department, t.kind) for t in session.scalars(
        select(Task).where(Task.complaint_id == survivor.id, Task.status.in_(ACTIVE_STATES)))}
    for task in list(session.scalars(select(Task).where(Task.complaint_id == dup.id))):
        if task.status in ACTIVE_STATES and (task.department, task.kind) in survivor_active:
            apply(session, task, TaskTrigger.CANCEL, at=at, actor=actor,
                  reason=system_reason(SystemReason.MERGED_SAME_TASK, duplicate=dup.id, survivor=survivor.id))
        task.complaint_id = survivor.id
        task.due_at = None if task.status not in ACTIVE_STATES else task.due_at
    session.execute(update(Message).where(Message.complaint_id == dup.id).values(complaint_id=survivor.id))
    _move_belongings(session, dup.id, survivor.id)
    # the moved tasks' timers follow them (their keys are per task), so the survivor reschedules them
    session.execute(update(Timer).where(Timer.complaint_id == dup.id).values(complaint_id=survivor.id))

    survivor.updated_at = at
    # always bump the survivor's version, even when ``at`` equals the stored updated_at (a fixed or coarse
    # clock): an opposite merge racing this one then conflicts instead of merging the survivor into itself
    flag_modified(survivor, "updated_at")
    record_event(session, survivor, "absorb", at=at, actor=actor, reason=reason, data={"duplicate": dup.id})
    refresh_due(session, dup.id, config, at)
    refresh_due(session, survivor.id, config, at)
    return survivor


def _move_belongings(session: Session, dup_id: int, survivor_id: int) -> None:
    """Promises, compensation entries, attachments and mentions of ``dup_id`` to ``survivor_id`` (a promise's
    version is bumped: a client holding it reads it again)."""
    session.execute(update(Promise).where(Promise.complaint_id == dup_id)
                    .values(complaint_id=survivor_id, version=Promise.version + 1),
                    execution_options={"synchronize_session": False})
    for table in (Compensation, Attachment, Mention):
        session.execute(update(table).where(table.complaint_id == dup_id).values(complaint_id=survivor_id),
                        execution_options={"synchronize_session": False})


def merge(sessions, duplicate_id: int, into_id: int, *, config: Config, actor: str, at: datetime,
          reason: str | None = None, expected_version: int | None = None,
          into_version: int | None = None) -> Complaint:
    """Merge complaint ``duplicate_id`` into ``into_id`` in its own transaction.

    Raises ``MergeRejected`` (self-merge, cycle, already merged), ``NotFound``,
    ``IllegalTransition`` or ``Conflict`` (a concurrent change won, or ``expected_version`` /
    ``into_version`` is not the duplicate's / target's current version).
    """
    if not actor:
        raise InvalidInput("actor", "is required")
    with unit_of_work(sessions) as s:
        check_version(_get(s, duplicate_id), expected_version, "complaint")
        check_version(_get(s, into_id), into_version, "complaint")
        return merge_in_session(s, duplicate_id, into_id, config=config, actor=actor, at=at, reason=reason)


@dataclass
class TimelineEntry:
    """One line of a complaint's timeline: an audit row (``kind`` ``transition``) or a message
    (``message:<direction>``). ``text`` is the line in plain English (the CLI, the exports); an audit row also
    carries its parts (``entity``, ``entity_id``, ``from_state``, ``to_state``, ``trigger``, ``reason``, and its
    ``data``, which says whose the reason is) for a page that labels them in the reader's language."""

    at: datetime
    kind: str  # "transition" or "message:<direction>"
    complaint_id: int | None
    text: str
    actor: str
    entity: str | None = None
    entity_id: int | None = None
    from_state: str | None = None
    to_state: str | None = None
    trigger: str | None = None
    reason: str | None = None
    data: dict = field(default_factory=dict)

    @property
    def reason_code(self) -> str | None:
        """The :class:`~closeloop.domain.reasons.SystemReason` code of ``reason`` when the engine wrote it (as its
        audit row stored it; a row from before codes were stored: read from its text), else None (a person's
        words, or no reason)."""
        found = stored_reason(self.reason, self.data)
        return found.code.value if found else None


@dataclass
class ComplaintView:
    complaint: Complaint
    tasks: list[Task]
    timeline: list[TimelineEntry]
    merged_from: list[int]


def show(sessions, complaint_id: int) -> ComplaintView:
    """One complaint with its tasks and a timeline that includes complaints merged into it."""
    with unit_of_work(sessions) as s:
        c = _get(s, complaint_id)
        merged_from = list(s.scalars(select(Complaint.id).where(Complaint.merged_into_id == c.id)
                                     .order_by(Complaint.id)))
        group = [c.id, *merged_from]
        tasks = list(s.scalars(select(Task).where(Task.complaint_id == c.id).order_by(Task.id)))
        entries: list[TimelineEntry] = []
        for t in s.scalars(select(Transition).where(Transition.complaint_id.in_(group))):
            what = f"{t.entity} {t.entity_id}: {t.from_state or '-'} -> {t.to_state} ({t.trigger})"
            if t.reason:
                what += f" - {t.reason}"
            entries.append(TimelineEntry(t.at, "transition", t.complaint_id, what, t.actor, t.entity, t.entity_id,
                                         t.from_state, t.to_state, t.trigger, t.reason, t.data or {}))
        for m in s.scalars(select(Message).where(or_(Message.complaint_id.in_(group),
                                                     Message.original_complaint_id.in_(group)))):
            entries.append(TimelineEntry(m.at, f"message:{m.direction}", m.original_complaint_id,
                                         redact(m.body)[:200], m.author))  # never a signed verdict link
        entries.sort(key=lambda e: (e.at, e.kind != "transition"))
        return ComplaintView(c, tasks, entries, merged_from)


__all__ = ["merge", "merge_in_session", "show", "root_of", "TaskStatus"]
