"""Complaint lifecycle use cases beyond intake and tasks: priority, waiting on the customer, close, reopen.

Every change is a domain transition (or, for a priority change, an audit row
with ``trigger = reprioritize``) and is followed by a recomputation of the
clocks, so derived state (due, overdue) is never stale (CASES.md C15).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy import select

from closeloop.config import Config
from closeloop.domain.complaint import ComplaintStatus, ComplaintTrigger
from closeloop.domain.errors import InvalidInput, NotFound, NotPermitted
from closeloop.domain.reasons import SystemReason, system_reason
from closeloop.domain.task import ACTIVE_STATES, TaskStatus, TaskTrigger
from closeloop.domain.task_kinds import SystemTaskKind, reopened_title
from closeloop.domain.triage import SEVERITIES
from closeloop.services.audit import add_task
from closeloop.services.capa import root_cause as rc
from closeloop.services.engine.clocks import refresh_due
from closeloop.services.transitions import apply, check_version, record_event
from closeloop.services.uow import unit_of_work
from closeloop.services.work.waits import pause_for_wait
from models.tables import Complaint, Task


def _get(s, complaint_id: int) -> Complaint:
    c = s.get(Complaint, complaint_id)
    if c is None:
        raise NotFound("complaint", complaint_id)
    return c


def reprioritize(sessions, complaint_id: int, severity: str, *, config: Config, reason: str, actor: str,
                 at: datetime, expected_version: int | None = None, lead_of: str | None = None) -> Complaint:
    """Change the severity; every clock is recomputed from creation with the new targets.

    ``lead_of``: the department of the lead asking (the API's and the dashboard's lead; None: a manager, a bulk
    action or the operator's command line, who may change any complaint). A lead changes only the priority of
    work their department owns now (:func:`priority_refusal`). Authorization is judged first: a lead refused
    gets ``NotPermitted`` whatever else is wrong with the request (the routes check it with
    :func:`check_priority_owner` before they even read the version).

    Raises ``NotFound`` for an unknown complaint, ``NotPermitted`` (``owners``: the departments the work belongs
    to now) when ``lead_of`` owns none of the complaint's work, then ``InvalidInput`` for an unknown severity or
    a missing reason, ``Conflict`` when ``expected_version`` (the version the caller read; None: not checked)
    is stale.
    """
    with unit_of_work(sessions) as s:
        c = _get(s, complaint_id)
        _check_owner(s, c.id, lead_of)
        if severity not in SEVERITIES:
            raise InvalidInput("severity", f"must be one of {', '.join(SEVERITIES)}")
        if not reason or not reason.strip():
            raise InvalidInput("reason", "a priority change needs a reason")
        check_version(c, expected_version, "complaint")
        if c.status in (ComplaintStatus.MERGED, ComplaintStatus.REJECTED):
            raise InvalidInput("complaint", f"complaint {c.id} is {c.status}; its severity no longer matters")
        if c.severity == severity:
            raise InvalidInput("severity", f"complaint {c.id} is already {severity}")
        old = c.severity
        c.severity = severity
        record_event(s, c, "reprioritize", at=at, actor=actor, reason=reason, data={"from": old, "to": severity})
        refresh_due(s, c.id, config, at)
        return c


def _check_owner(s, complaint_id: int, lead_of: str | None) -> None:
    """``NotPermitted`` (:func:`priority_refusal`) when the lead of ``lead_of`` may not change the priority."""
    if lead_of is None:
        return
    tasks = s.execute(select(Task.department, Task.status).where(Task.complaint_id == complaint_id))
    refusal = priority_refusal(complaint_id, lead_of, [(d, st) for d, st in tasks])
    if refusal is not None:
        raise refusal


def check_priority_owner(sessions, complaint_id: int, lead_of: str | None) -> None:
    """Whether the lead of ``lead_of`` (None: not a lead) may change complaint ``complaint_id``'s priority, asked
    before a route reads the rest of the request (the version: ``If-Match``, the form's field), so a refused lead
    learns that first; :func:`reprioritize` asks again in its own transaction. Raises ``NotFound`` for an unknown
    complaint, ``NotPermitted`` as :func:`reprioritize` does; returns None when they may."""
    if lead_of is None:
        return
    with sessions() as s:
        _check_owner(s, _get(s, complaint_id).id, lead_of)


#: The states in which a department's task makes it an owner of the complaint's work (:func:`priority_refusal`):
#: active (the work is in its hands) or done (it did the work: a reopen goes back to it). Not transferred (the
#: work went to the successor's department) nor cancelled (the work was withdrawn from it).
OWNING_STATES = frozenset(ACTIVE_STATES | {TaskStatus.DONE})


def priority_refusal(complaint_id: int, lead_of: str | None,
                     tasks: Iterable[tuple[str, str]]) -> NotPermitted | None:
    """Whether the lead of department ``lead_of`` may change complaint ``complaint_id``'s priority, given its
    ``tasks`` as ``(department, status)`` pairs: None when they may (``lead_of`` None: not a lead; or the
    department owns the work now), else the ``NotPermitted`` :func:`reprioritize` raises (``owners``: the
    departments that own the work now, sorted; empty when none does). The one rule of the service and the
    complaint page (which shows the reason instead of the form). Raises nothing.

    A department owns the complaint's work now when one of its tasks on it is in :data:`OWNING_STATES`: active,
    or done. Sources: README "Roles" (a lead acts "within the department": on its department's work) and the
    reopen rule (README "not satisfied reopens the complaint to the department that did the work";
    :func:`reopen_in_session` reopens to the department whose task was done last), so a department that finished
    its task keeps answering for it. A task transferred away handed the work to its successor's department, and a
    cancelled one (by a lead, or by a resolve by hand or a reopen) was withdrawn from the department: neither
    leaves the department owning anything (the complaint stays readable to it: its tasks touch it)."""
    if lead_of is None:
        return None
    rows = list(tasks)
    if any(d == lead_of and st in OWNING_STATES for d, st in rows):
        return None
    owners = tuple(sorted({d for d, st in rows if st in OWNING_STATES}))
    now = f"department {', '.join(owners)}" if owners else "no department"
    ended = sorted({str(st) for d, st in rows if d == lead_of})
    problem = (f"complaint {complaint_id}'s task in department {lead_of} was {' or '.join(ended)} and the work now "
               f"belongs to {now}: only its lead or a manager may change the priority"
               if ended else f"complaint {complaint_id} has no task in department {lead_of}")
    return NotPermitted("lead", problem, owners=owners)


def await_customer(sessions, complaint_id: int, *, config: Config, reason: str, actor: str, at: datetime,
                   max_business_hours: float | None = None, until: datetime | None = None,
                   continuing: Collection[int] = (), expected_version: int | None = None) -> Complaint:
    """Wait on the customer: the resolution clock pauses (who, why, and an optional maximum are recorded),
    and so do the department tasks that wait on the answer: all active ones but ``continuing``
    (:mod:`closeloop.services.work.waits`, K11); the customer's answer resumes them.

    The maximum is ``max_business_hours`` (business hours on the customer calendar) or
    ``until`` (a UTC-aware instant); with both, the wait ends at the **earlier** (``domain.complaint.wait_end``,
    read by the sweep and the customer's notice alike); past it the sweep closes the complaint "no customer
    response" (or escalates, per ``[follow_up] auto_close_wait_after_max``). The
    customer's next inbound message, on any channel, resumes it. ``Conflict`` when ``expected_version``
    (None: not checked) is stale; ``IllegalTransition`` naming the state.
    """
    if max_business_hours is not None and not (0 < max_business_hours <= 10_000):
        raise InvalidInput("max_business_hours",
                           "must be a finite number of business hours greater than 0 and at most 10000")
    if until is not None and until <= at:
        raise InvalidInput("until", "must be later than the start of the wait")
    with unit_of_work(sessions) as s:
        c = _get(s, complaint_id)
        check_version(c, expected_version, "complaint")
        data: dict[str, float | str] = {}
        if max_business_hours:
            data["max_business_hours"] = max_business_hours
        if until is not None:
            data["until"] = until.isoformat()
        apply(s, c, ComplaintTrigger.AWAIT_CUSTOMER, at=at, actor=actor, reason=reason, data=data or None)
        pause_for_wait(s, c, continuing=set(continuing), reason=reason, actor=actor, at=at)
        refresh_due(s, c.id, config, at)
        return c


def resolve(sessions, complaint_id: int, *, config: Config, reason: str, actor: str, at: datetime,
            expected_version: int | None = None, root_cause: str | None = None,
            root_cause_detail: str | None = None) -> Complaint:
    """Resolve by hand (for example first-contact resolution from ``triaged``); open tasks are cancelled.

    A root cause is required: ``root_cause`` (recorded here) or one recorded earlier. Raises
    ``InvalidInput`` naming ``root_cause`` (missing or unknown) or ``note`` (``undetermined``
    without ``root_cause_detail``), ``IllegalTransition`` naming the current state, ``Conflict``.
    """
    with unit_of_work(sessions) as s:
        c = _get(s, complaint_id)
        check_version(c, expected_version, "complaint")
        if root_cause is not None:
            rc.record(s, c, root_cause, root_cause_detail, config=config, actor=actor, at=at)
        apply(s, c, ComplaintTrigger.RESOLVE, at=at, actor=actor, reason=reason)
        with s.no_autoflush:  # the complaint's pending change does not move its tasks: all written in one flush
            active = s.scalars(select(Task).where(Task.complaint_id == c.id, Task.status.in_(ACTIVE_STATES))).all()
        for t in active:
            apply(s, t, TaskTrigger.CANCEL, at=at, actor=actor,
                  reason=system_reason(SystemReason.COMPLAINT_RESOLVED, reason=reason))
        refresh_due(s, c.id, config, at)
        return c


def set_root_cause(sessions, complaint_id: int, *, config: Config, root_cause: str, note: str | None,
                   actor: str, at: datetime) -> Complaint:
    """Record (or correct) a complaint's root cause; a waiting ``root-cause`` task is completed with it.

    Raises ``InvalidInput`` naming ``root_cause`` or ``root_cause_detail``; ``NotFound``.
    """
    # deferred: import cycle: tasks imports lifecycle
    from closeloop.services.work.tasks import ROOT_CAUSE_KIND, complete_in_session  # tasks imports nothing from here

    with unit_of_work(sessions) as s:
        c = _get(s, complaint_id)
        if c.status in (ComplaintStatus.MERGED, ComplaintStatus.REJECTED):
            raise InvalidInput("complaint", f"complaint {c.id} is {c.status}; it needs no root cause")
        rc.record(s, c, root_cause, note, config=config, actor=actor, at=at)
        waiting = s.scalars(select(Task).where(Task.complaint_id == c.id, Task.kind == ROOT_CAUSE_KIND,
                                               Task.status.in_(ACTIVE_STATES))).all()
        for t in waiting:
            complete_in_session(s, t.id, config=config, actor=actor, at=at, outcome=f"root cause: {root_cause}")
        refresh_due(s, c.id, config, at)
        return c


def close(sessions, complaint_id: int, *, config: Config, reason: str, actor: str, at: datetime,
          expected_version: int | None = None) -> Complaint:
    """Close a resolved complaint."""
    with unit_of_work(sessions) as s:
        c = _get(s, complaint_id)
        check_version(c, expected_version, "complaint")
        apply(s, c, ComplaintTrigger.CLOSE, at=at, actor=actor, reason=reason)
        refresh_due(s, c.id, config, at)
        return c


#: task kinds that are not the work on the complaint: a reopen goes to the department that did the work
#: (issue 13: "not satisfied" reopens to it, not to the follow-up department)
NOT_WORK_KINDS = (SystemTaskKind.FOLLOW_UP,)


def reopen_in_session(s, c: Complaint, *, config: Config, reason: str, actor: str, at: datetime,
                      department: str | None = None) -> Complaint:
    """:func:`reopen` inside the caller's transaction (no commit): every reopen (an agent's, the customer's
    reply, a "not satisfied" verdict) goes through here. A follow-up task still asking the customer whether the
    complaint is solved is cancelled first, with the reason: the reopen answered it (its verdict links then say
    they are no longer open, :mod:`closeloop.services.customers.verdicts`)."""
    apply(s, c, ComplaintTrigger.REOPEN, at=at, actor=actor, reason=reason)
    for ask in s.scalars(select(Task).where(Task.complaint_id == c.id, Task.kind == SystemTaskKind.FOLLOW_UP,
                                            Task.status.in_(ACTIVE_STATES)).order_by(Task.id)):
        apply(s, ask, TaskTrigger.CANCEL, at=at, actor=actor,
              reason=system_reason(SystemReason.COMPLAINT_REOPENED, reason=reason))
    c.reopen_count += 1
    if department is None:
        last = s.scalar(select(Task).where(Task.complaint_id == c.id, Task.status == TaskStatus.DONE,
                                           Task.kind.not_in(NOT_WORK_KINDS))
                        .order_by(Task.updated_at.desc(), Task.id.desc()).limit(1))
        department = last.department if last else config.triage_department  # nothing done: the triage queue
    if department not in config.departments:
        raise InvalidInput("department", f"unknown department {department!r}")
    task = Task(complaint_id=c.id, department=department, kind=SystemTaskKind.REOPENED,
                title=reopened_title(reason),
                instructions="", status=TaskStatus.OPEN, created_at=at, updated_at=at)
    add_task(s, task, actor=actor, at=at, reason=reason,
             data={"department": department, "kind": SystemTaskKind.REOPENED})
    refresh_due(s, c.id, config, at)
    return c


def reopen(sessions, complaint_id: int, *, config: Config, reason: str, actor: str, at: datetime,
           department: str | None = None, expected_version: int | None = None) -> Complaint:
    """Reopen a resolved or closed complaint with a new task.

    The task goes to ``department`` or, by default, to the department whose task
    finished last (a customer follow-up is not work on the complaint: it is skipped). Resolution time keeps
    counting from creation; the time spent
    resolved or closed counts as paused (CASES.md rule "Reopen").
    """
    with unit_of_work(sessions) as s:
        c = _get(s, complaint_id)
        check_version(c, expected_version, "complaint")
        return reopen_in_session(s, c, config=config, reason=reason, actor=actor, at=at,
                                 department=department)


def record_follow_up(sessions, task_id: int, *, config: Config, satisfied: bool, note: str, actor: str,
                     at: datetime) -> Complaint:
    """Complete a customer follow-up task with the customer's verdict on the handling.

    Satisfied: the complaint is closed. Not satisfied: it is reopened with a new task
    (see :func:`reopen`). Every verdict is kept in its audit row (``data.satisfied``,
    ``data.first_verdict``); ``complaint.customer_satisfied`` holds the first one only.
    """
    with unit_of_work(sessions) as s:
        task = s.get(Task, task_id)
        if task is None:
            raise NotFound("task", task_id)
        return record_follow_up_in_session(s, task, config=config, satisfied=satisfied, note=note, actor=actor,
                                           at=at)


def _not_satisfied(note: str | None) -> str:
    """The reopen reason of a customer's "not satisfied" verdict: their note, or that they gave none."""
    if note:
        return system_reason(SystemReason.CUSTOMER_NOT_SATISFIED, note=note)
    return system_reason(SystemReason.CUSTOMER_NOT_SATISFIED_SILENT)


def record_follow_up_in_session(s, task: Task, *, config: Config, satisfied: bool, note: str, actor: str,
                                at: datetime, expected_version: int | None = None) -> Complaint:
    """:func:`record_follow_up` inside the caller's transaction (no commit); also the path of completing a
    follow-up task through ``tasks.complete`` (API, CLI), so the verdict is never lost."""
    # deferred: import cycle: tasks imports lifecycle
    from closeloop.services.work.tasks import (
        complete_in_session,  # tasks imports nothing from here; avoids an import cycle
    )

    task_id = task.id
    if task.kind != SystemTaskKind.FOLLOW_UP:
        raise InvalidInput("task", f"task {task_id} is not a customer follow-up (its kind is {task.kind!r})")
    c = s.get_one(Complaint, task.complaint_id)  # held through the completion (else read again after it)
    complete_in_session(s, task_id, config=config, actor=actor, at=at, expected_version=expected_version,
                        outcome=("satisfied" if satisfied else "not satisfied") + (f": {note}" if note else ""))
    # the customer's FIRST verdict is the complaint's (issue 16): a later one, after a dispute reopened it,
    # is stored beside it in its own audit row, not over it; kept apart from any effectiveness check
    first = c.customer_satisfied is None
    if first:
        c.customer_satisfied = satisfied
    record_event(s, c, "follow_up", at=at, actor=actor, reason=note or None,
                 data={"satisfied": satisfied, "task": task_id, "first_verdict": first})
    if satisfied:
        if c.status == ComplaintStatus.RESOLVED:
            apply(s, c, ComplaintTrigger.CLOSE, at=at, actor=actor,
                  reason=system_reason(SystemReason.CUSTOMER_SATISFIED))
    else:
        reopen_in_session(s, c, config=config, reason=_not_satisfied(note),
                          actor=actor, at=at)
    refresh_due(s, c.id, config, at)
    return c
