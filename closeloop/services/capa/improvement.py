"""Improvement records (CAPA): create, link complaints, fire lifecycle triggers, add actions, read.

Lifecycle (the domain's :data:`~closeloop.domain.improvement.IMPROVEMENT_EDGES`)::

    proposed -approve-> approved -start-> in_progress -implement-> implemented -(check)-> verifying
    verifying -> effective | ineffective -rework-> in_progress        proposed|approved -reject-> rejected

Rules the services add:

- ``approve`` needs a root cause on the record (given with the trigger or set before);
- ``reject`` needs a reason;
- ``implement`` needs at least one action and no action still active; it stamps
  ``implemented_at`` and schedules the effectiveness check ``[improvement] effectiveness_weeks``
  later (a timer, fired by the sweep: :mod:`closeloop.services.capa.effectiveness`);
- ``confirm_ineffective`` (by the check or by hand) returns the record to ``in_progress``
  (a second, system ``rework`` transition) and notifies the owner department's lead;
- ``confirm_effective`` stamps ``verified_at`` and, with the ``improved`` entry of ``[customers] milestones``
  (on by default), tells the customers of the linked complaints in their language over their channel.

Every transition is an audit row (``entity = 'improvement'``) with its actor. ``expected_version``
guards against lost updates (``Conflict``); illegal triggers raise ``IllegalTransition`` naming the
current state; bad input raises ``InvalidInput`` naming the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.config.improvement import MATCH_FIELDS
from closeloop.domain.errors import InvalidInput, NotFound
from closeloop.domain.improvement import IMPROVEMENT_MACHINE, ImprovementStatus, ImprovementTrigger
from closeloop.domain.reasons import SystemReason, system_reason
from closeloop.domain.task import TaskStatus
from closeloop.services.audit import add_task, audit_dict
from closeloop.services.bulk import insert_new
from closeloop.services.capa import root_cause as rc
from closeloop.services.capa.effectiveness import (
    CHANNEL_FACTS,
    has_grouping_facts,
    on_effective,
    on_ineffective,
    unknown_facts,
)
from closeloop.services.departments import sync_departments
from closeloop.services.transitions import apply, check_version
from closeloop.services.uow import unit_of_work
from models.tables import (
    Complaint,
    EffectivenessCheck,
    Improvement,
    ImprovementLink,
    Task,
    Transition,
)

SYSTEM = "system"
ACTION_KINDS = ("corrective", "preventive")
LINK_SOURCES = ("manual", "recurrence", "cluster")  # cluster: the complaints that proposed the record
#: records that still collect evidence (new matching complaints link to them)
OPEN_STATES = tuple(st for st in ImprovementStatus if st not in IMPROVEMENT_MACHINE.terminal)


def match_key(match: dict[str, str]) -> str:
    """The canonical text of a match: ``field=value`` pairs sorted by field, joined by ``|``."""
    return "|".join(f"{k}={match[k]}" for k in sorted(match))[:1000]


def match_of(complaint: Complaint, fields: list[str]) -> dict[str, str]:
    return {f: getattr(complaint, f) or "" for f in fields}


def check_match(match: dict[str, str]) -> None:
    """Raise ``InvalidInput('match', ...)`` unless ``match`` names at least one fact, every fact one of
    :data:`~closeloop.config.improvement.MATCH_FIELDS` (the complaint columns recurrence and the
    effectiveness check compare), every value a string, one of them not empty and not only the channel
    (:func:`~closeloop.services.capa.effectiveness.has_grouping_facts`: a match of no facts would take in
    every complaint without facts, unrelated ones)."""
    if not match:
        raise InvalidInput("match", "needs at least one fact")
    unknown = unknown_facts(match)
    if unknown:
        raise InvalidInput("match", f"unknown fact(s) {', '.join(map(repr, unknown))}; "
                                    f"allowed facts: {', '.join(MATCH_FIELDS)}")
    bad = sorted(k for k, v in match.items() if not isinstance(v, str))
    if bad:
        raise InvalidInput("match", f"the value of {', '.join(bad)} must be text")
    if not has_grouping_facts(match):
        raise InvalidInput("match", f"needs a fact with a value other than {', '.join(CHANNEL_FACTS)} "
                                    "(complaints without facts are not one problem)")


def get(session: Session, improvement_id: int) -> Improvement:
    rec = session.get(Improvement, improvement_id)
    if rec is None:
        raise NotFound("improvement", improvement_id)
    return rec


def create_in_session(s: Session, *, config: Config, title: str, owner_department: str, actor: str, at: datetime,
                      problem: str = "", root_cause: str | None = None, root_cause_detail: str | None = None,
                      match: dict[str, str] | None = None, complaint_ids: Sequence[int] = (),
                      link_source: str = "manual", texts: dict | None = None) -> Improvement:
    """Create a record in ``s`` (see :func:`create`). ``texts``: the engine's own title and problem as codes
    (:func:`~closeloop.domain.record_texts.recurring_texts`), stored in the create audit row's ``data["texts"]``
    (``{}``: a person's, shown as typed)."""
    if not title or not title.strip():
        raise InvalidInput("title", "is required")
    if owner_department not in config.departments:
        raise InvalidInput("owner_department", f"unknown department {owner_department!r}")
    if root_cause is not None:
        root_cause = rc.validate(config, root_cause, root_cause_detail)
    if match is None:
        if not complaint_ids:
            raise InvalidInput("match", "give the match (facts) or at least one complaint to take it from")
        first = s.get(Complaint, complaint_ids[0])
        if first is None:
            raise NotFound("complaint", complaint_ids[0])
        match = match_of(first, config.model.improvement.match_on)
    check_match(match)
    rec = Improvement(title=title.strip()[:500], problem=problem or "", root_cause=root_cause,
                      root_cause_detail=root_cause_detail, match=dict(match), match_key=match_key(match),
                      owner_department=owner_department, status=ImprovementStatus.PROPOSED, created_by=actor,
                      created_at=at, updated_at=at, check_attempts=0, timers_dirty=False)
    s.add(rec)
    s.flush()
    s.add(Transition(**audit_dict("improvement", rec.id, None, None, ImprovementStatus.PROPOSED, "create", actor, at,
                                  reason=title, data={"match": rec.match, "root_cause": root_cause,
                                                        "texts": dict(texts or {})})))
    link_many(s, rec, list(complaint_ids), actor=actor, at=at, source=link_source)
    return rec


def create(sessions, *, config: Config, title: str, owner_department: str, actor: str, at: datetime,
           problem: str = "", root_cause: str | None = None, root_cause_detail: str | None = None,
           match: dict[str, str] | None = None, complaint_ids: Sequence[int] = ()) -> Improvement:
    """Propose a record (status ``proposed``). ``match`` defaults to the first complaint's
    ``[improvement] match_on`` facts. Departments are synced from ``config`` first (a fresh database has
    none stored). Raises ``InvalidInput`` (title, owner_department, match: no fact, a fact that is not a
    complaint fact, the allowed ones listed, or a value that is not text; root_cause, note) or
    ``NotFound`` (a complaint)."""
    with unit_of_work(sessions) as s:
        sync_departments(s, config, at)  # a fresh database has no department rows before the first intake
        return create_in_session(s, config=config, title=title, owner_department=owner_department, actor=actor,
                                 at=at, problem=problem, root_cause=root_cause, root_cause_detail=root_cause_detail,
                                 match=match, complaint_ids=list(complaint_ids))


def link_many(s: Session, rec: Improvement, complaint_ids: list[int], *, actor: str, at: datetime,
              source: str) -> int:
    """Link complaints to ``rec`` (already linked ones, even by a concurrent transaction, are skipped).
    Returns how many were new."""
    if source not in LINK_SOURCES:
        raise InvalidInput("source", f"must be one of {', '.join(LINK_SOURCES)}")
    ids = sorted(set(complaint_ids))
    if not ids:
        return 0
    found = set(s.scalars(select(Complaint.id).where(Complaint.id.in_(ids))))
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound("complaint", missing[0])
    lt = ImprovementLink.__table__
    rows = [{"improvement_id": rec.id, "complaint_id": c, "source": source, "linked_by": actor, "linked_at": at}
            for c in ids]  # already linked ones (also by a concurrent request) are skipped, not an error
    return len(insert_new(s, lt, rows, key=["improvement_id", "complaint_id"], returning=lt.c.complaint_id))


def link(sessions, improvement_id: int, complaint_ids: list[int], *, actor: str, at: datetime) -> int:
    """Link complaints to a record by hand (source ``manual``). Returns how many links are new."""
    with unit_of_work(sessions) as s:
        rec = get(s, improvement_id)
        if rec.status == ImprovementStatus.REJECTED:
            raise InvalidInput("improvement", f"improvement {rec.id} is rejected; link to an open record")
        return link_many(s, rec, complaint_ids, actor=actor, at=at, source="manual")


def fire(sessions, improvement_id: int, trigger: str, *, config: Config, actor: str, at: datetime,
         reason: str | None = None, root_cause: str | None = None, root_cause_detail: str | None = None,
         expected_version: int | None = None) -> Improvement:
    """Apply a lifecycle trigger by name (see the module docstring for the rules per trigger)."""
    try:
        trig = ImprovementTrigger(trigger)
    except ValueError:
        raise InvalidInput("trigger", f"unknown trigger {trigger!r}; use one of "
                                      f"{', '.join(t.value for t in ImprovementTrigger)}") from None
    with unit_of_work(sessions) as s:
        rec = get(s, improvement_id)
        check_version(rec, expected_version, "improvement")
        IMPROVEMENT_MACHINE.next_state(ImprovementStatus(rec.status), trig)  # illegal: fail before any rule
        if root_cause is not None:
            rec.root_cause = rc.validate(config, root_cause, root_cause_detail)
            rec.root_cause_detail = root_cause_detail
        apply(s, rec, trig, actor=actor, at=at, reason=reason,  # IMPROVEMENT_GUARDS: root cause, reason, actions
              # the cause in the audit row whenever it is set or approved: the review reads it as of a month's end
              data={"root_cause": rec.root_cause}
              if trig == ImprovementTrigger.APPROVE or root_cause is not None else None)
        if trig == ImprovementTrigger.IMPLEMENT:
            rec.implemented_at = at
            rec.check_attempts = 0
            rec.check_due_at = at + timedelta(weeks=config.model.improvement.effectiveness_weeks)
            rec.timers_dirty = True
        elif trig == ImprovementTrigger.CONFIRM_EFFECTIVE:
            on_effective(s, config, rec, at)
        elif trig == ImprovementTrigger.CONFIRM_INEFFECTIVE:
            why = reason or system_reason(SystemReason.JUDGED_INEFFECTIVE, actor=actor)
            on_ineffective(s, config, rec, at, why, actor=actor)
        return rec


def business_days_due(cal, start: datetime, days: int) -> datetime:
    """The end of the ``days``-th working day after ``start``'s day on ``cal`` (UTC)."""
    periods = cal.nth_working_day(start, days)
    if not periods:
        raise InvalidInput("business_days", "no working day found on the department's calendar")
    return periods[-1][1].astimezone(UTC)


def add_action(sessions, improvement_id: int, *, config: Config, kind: str, department: str, title: str,
               actor: str, at: datetime, instructions: str = "", business_days: int | None = None,
               assignee: str | None = None) -> Task:
    """A corrective or preventive action: a task of ``department`` due at the end of the
    ``business_days``-th working day on its calendar (default ``[improvement] action_business_days``),
    with reminders and escalations like any task. Allowed while the record is approved, in progress or
    ineffective. Raises ``InvalidInput`` (kind, department, title, business_days, improvement)."""
    if kind not in ACTION_KINDS:
        raise InvalidInput("kind", f"must be one of {', '.join(ACTION_KINDS)}")
    if department not in config.departments:
        raise InvalidInput("department", f"unknown department {department!r}")
    if not title or not title.strip():
        raise InvalidInput("title", "is required")
    days = business_days if business_days is not None else config.model.improvement.action_business_days
    if not 1 <= days <= 365:
        raise InvalidInput("business_days", "must be between 1 and 365")
    with unit_of_work(sessions) as s:
        rec = get(s, improvement_id)
        if rec.status not in (ImprovementStatus.APPROVED, ImprovementStatus.IN_PROGRESS, ImprovementStatus.INEFFECTIVE):
            raise InvalidInput("improvement", f"improvement {rec.id} is {rec.status}; actions are added once "
                                              "it is approved and before it is implemented")
        due = business_days_due(config.department_calendar(department), at, days)
        sync_departments(s, config, at)  # a department configured since the last intake has no row yet
        task = Task(complaint_id=None, improvement_id=rec.id, department=department, kind=kind,
                    title=title.strip()[:500], instructions=instructions, status=TaskStatus.OPEN,
                    assignee=assignee or None, created_at=at, updated_at=at, due_at=due)
        add_task(s, task, actor=actor, at=at, data={"department": department, "kind": kind, "improvement": rec.id})
        rec.timers_dirty = True
        rec.updated_at = at
        return task


@dataclass
class ImprovementView:
    record: Improvement
    links: list[tuple[ImprovementLink, Complaint]]
    actions: list[Task]
    checks: list[EffectivenessCheck]
    history: list[Transition]


def show(sessions, improvement_id: int) -> ImprovementView:
    """A record with its linked complaints (with each customer's verdict), actions, checks and history."""
    with unit_of_work(sessions) as s:
        rec = get(s, improvement_id)
        links = s.execute(select(ImprovementLink, Complaint)
                          .join(Complaint, Complaint.id == ImprovementLink.complaint_id)
                          .where(ImprovementLink.improvement_id == rec.id).order_by(ImprovementLink.complaint_id)).all()
        actions = list(s.scalars(select(Task).where(Task.improvement_id == rec.id).order_by(Task.id)))
        checks = list(s.scalars(select(EffectivenessCheck).where(EffectivenessCheck.improvement_id == rec.id)
                                .order_by(EffectivenessCheck.id)))
        history = list(s.scalars(select(Transition).where(Transition.entity == "improvement",
                                                          Transition.entity_id == rec.id)
                                 .order_by(Transition.at, Transition.id)))
        return ImprovementView(rec, [(lk, c) for lk, c in links], actions, checks, history)


def list_records(sessions, *, status: str | None = None, limit: int = 100,
                 department: str | None = None) -> list[tuple[Improvement, int]]:
    """Records (newest first) with their number of linked complaints; ``department``: those it owns."""
    if status is not None and status not in {str(x) for x in ImprovementStatus}:
        raise InvalidInput("status", f"unknown status {status!r}")
    with unit_of_work(sessions) as s:
        n = (select(func.count()).select_from(ImprovementLink)
             .where(ImprovementLink.improvement_id == Improvement.id).scalar_subquery())
        q = select(Improvement, n).order_by(Improvement.id.desc()).limit(limit)
        if status:
            q = q.where(Improvement.status == status)
        if department is not None:
            q = q.where(Improvement.owner_department == department)
        return [(r, k) for r, k in s.execute(q).all()]
