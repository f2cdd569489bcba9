"""Department task use cases: acknowledge, start, complete, transfer, cancel.

Each runs in one transaction, fires the domain transition, writes the audit
row(s), and keeps the complaint in step:

- the first acknowledge/start moves a ``triaged`` or ``reopened`` complaint to ``in_progress``;
- completing a task unblocks the tasks whose dependencies are now all finished;
- when a complaint has no active task left it is ``resolved`` (actor ``system``) if it has a root
  cause; without one it stays in progress with a ``root-cause`` task for the lead of the department
  that did the work (see :mod:`closeloop.services.capa.root_cause`);
- a corrective/preventive action of an improvement record is a task too (``complaint_id`` None,
  ``improvement_id`` set): the same triggers, clocks and timers; it never resolves a complaint;
- a transfer needs a reason and an active target department other than the
  current one; it creates a new task there that inherits the dependencies,
  and counts towards the complaint's ``transfer_count``;
- after every change the due instants are recomputed from the audit log
  (:func:`~closeloop.services.engine.clocks.refresh_due`).

A write on a record changed since it was read raises ``Conflict``; an
illegal trigger raises ``IllegalTransition`` naming the current state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.domain.complaint import COMPLAINT_MACHINE, ComplaintStatus, ComplaintTrigger
from closeloop.domain.errors import InvalidInput
from closeloop.domain.reasons import SystemReason, system_reason
from closeloop.domain.task import ACTIVE_STATES, FINISHED_STATES, TASK_MACHINE, TaskStatus, TaskTrigger
from closeloop.domain.task_kinds import SYSTEM_TITLES, SystemTaskKind
from closeloop.services.audit import add_task, audit_dict
from closeloop.services.capa import root_cause as rc
from closeloop.services.departments import sync_departments
from closeloop.services.engine.clocks import refresh_due
from closeloop.services.engine.ledger import pending_audit
from closeloop.services.people.users import assign_to, take_up
from closeloop.services.transitions import apply, record_event
from closeloop.services.uow import unit_of_work
from closeloop.services.work.lifecycle import record_follow_up_in_session  # lifecycle imports this module
from closeloop.services.work.task_reads import Siblings, load_held, load_task, load_with_siblings
from models.db import begin_write
from models.tables import Complaint, Department, Improvement, Task, TaskDependency, Transition

ROOT_CAUSE_KIND = rc.ROOT_CAUSE_KIND


def _refresh(session: Session, task: Task, config: Config, at: datetime, tasks: list[Task] | None = None,
             audit: list[tuple] | None = None) -> None:
    """Recompute the clocks of the task's complaint (``tasks``, ``audit``: as ``refresh_due`` takes them), or
    flag an action task's record for rescheduling."""
    if task.complaint_id is not None:
        refresh_due(session, task.complaint_id, config, at, tasks=tasks, audit=audit)
    elif task.improvement_id is not None:
        session.get_one(Improvement, task.improvement_id).timers_dirty = True


def _begin_work(session: Session, task: Task, at: datetime, actor: str) -> None:
    if task.complaint_id is None:
        return
    complaint = session.get_one(Complaint, task.complaint_id)
    if complaint.status in (ComplaintStatus.TRIAGED, ComplaintStatus.REOPENED):
        apply(session, complaint, ComplaintTrigger.START, at=at, actor=actor,
                       reason=system_reason(SystemReason.TASK_TAKEN_UP, task=task.id, department=task.department))


def _take_up(s: Session, task: Task, actor: str, taker_id: int | None) -> None:
    """:func:`~closeloop.services.people.users.take_up` without an autoflush: its user lookup reads no pending
    change, and the status change is then written in one flush (one UPDATE of the task, not one per step)."""
    with s.no_autoflush:
        take_up(s, task, actor, taker_id)


def acknowledge_in_session(s: Session, task_id: int, *, config: Config, actor: str, at: datetime,
                           expected_version: int | None = None, taker_id: int | None = None) -> Task:
    task, _complaint = load_held(s, task_id, expected_version)  # held: the transition, start, refresh read it
    _acknowledge(s, task, actor=actor, at=at, taker_id=taker_id)
    _refresh(s, task, config, at)
    return task


def _acknowledge(s: Session, task: Task, *, actor: str, at: datetime, taker_id: int | None = None,
                 reason: str | None = None) -> None:
    """``open -> acknowledged`` on the loaded ``task``: the actor (the user ``taker_id``) takes it up if nobody
    has it, and the complaint's work begins; no clock refresh (the caller's)."""
    apply(s, task, TaskTrigger.ACKNOWLEDGE, at=at, actor=actor, reason=reason)
    if not task.assignee:
        _take_up(s, task, actor, taker_id)
    _begin_work(s, task, at, actor)


def acknowledge(sessions, task_id: int, *, config: Config, actor: str, at: datetime,
                expected_version: int | None = None, taker_id: int | None = None) -> Task:
    """First response from the department: ``open -> acknowledged``; the actor becomes the assignee if none
    (the user ``taker_id`` when the caller is one: :func:`closeloop.services.people.users.take_up`)."""
    with unit_of_work(sessions) as s:
        return acknowledge_in_session(s, task_id, config=config, actor=actor, at=at,
                                      expected_version=expected_version, taker_id=taker_id)


def _simple(sessions, task_id: int, trigger: TaskTrigger, *, config: Config, actor: str, at: datetime,
            reason: str | None = None, data: dict | None = None, assign: bool = False,
            expected_version: int | None = None, taker_id: int | None = None) -> Task:
    with unit_of_work(sessions) as s:
        task, _complaint = load_held(s, task_id, expected_version)  # held: the transition, start, refresh read it
        apply(s, task, trigger, at=at, actor=actor, reason=reason, data=data)
        if assign and not task.assignee:
            _take_up(s, task, actor, taker_id)
            _begin_work(s, task, at, actor)
        _refresh(s, task, config, at)
        return task


def start(sessions, task_id: int, *, config: Config, actor: str, at: datetime,
          expected_version: int | None = None, taker_id: int | None = None) -> Task:
    """Work begins: ``open|acknowledged -> in_progress`` (the taker becomes the assignee, as acknowledge)."""
    return _simple(sessions, task_id, TaskTrigger.START, config=config, actor=actor, at=at, assign=True,
                   expected_version=expected_version, taker_id=taker_id)


def pause(sessions, task_id: int, *, config: Config, reason: str, actor: str, at: datetime,
          until: datetime | None = None, expected_version: int | None = None) -> Task:
    """Wait on the customer or a third party: the task's SLA clock pauses. A reason is required;
    ``until`` (UTC-aware) is the expected end, kept in the audit row for the follow-up engine.

    A person who pauses an open task has answered it: the task is acknowledged first as ``acknowledge`` does it
    (its own audit row, same actor and instant; the pauser becomes the assignee if none; the complaint's work
    begins), so its acknowledge clock stops there; only a complaint's wait on the customer holds a task
    unacknowledged (``services/work/waits.py``)."""
    if until is not None and until <= at:
        raise InvalidInput("until", "must be later than the pause itself")
    data = {"until": until.isoformat()} if until else None
    with unit_of_work(sessions) as s:
        task, _complaint = load_held(s, task_id, expected_version)  # held: the transitions and refresh read it
        TASK_MACHINE.next_state(TaskStatus(task.status), TaskTrigger.PAUSE)  # illegal: fail before acknowledging
        if task.status == TaskStatus.OPEN:  # as `acknowledge`: the pauser takes it up, the work begins
            _acknowledge(s, task, actor=actor, at=at, reason=system_reason(SystemReason.ACKNOWLEDGED_BY_PAUSE))
        apply(s, task, TaskTrigger.PAUSE, at=at, actor=actor, reason=reason, data=data)
        _refresh(s, task, config, at)
        return task


#: the longest assignee text :func:`assign` takes
MAX_ASSIGNEE_CHARS = 200


def assign(sessions, task_id: int, *, config: Config, assignee: str, actor: str, at: datetime,
           expected_version: int | None = None) -> Task:
    """Reassign within the department: the due time is kept (CASES.md C16). ``assignee`` is free text,
    resolved to a user when it names one (:func:`closeloop.services.people.users.assign_to`: ``@handle`` must
    exist, the user must work for the task's department); ``InvalidInput`` naming ``assignee``."""
    if not assignee or not assignee.strip():
        raise InvalidInput("assignee", "is required")
    if len(assignee) > MAX_ASSIGNEE_CHARS:
        raise InvalidInput("assignee", f"longer than {MAX_ASSIGNEE_CHARS} characters")
    with unit_of_work(sessions) as s:
        task = load_task(s, task_id, expected_version)
        if task.status not in ACTIVE_STATES:
            raise InvalidInput("task", f"task {task_id} is {task.status}; only active tasks can be reassigned")
        old = task.assignee
        assign_to(s, task, assignee.strip())
        record_event(s, task, "assign", at=at, actor=actor,
                     data={"from": old, "to": task.assignee, "user": task.assignee_user_id})
        _refresh(s, task, config, at)
        return task


def resume(sessions, task_id: int, *, config: Config, actor: str, at: datetime,
           expected_version: int | None = None) -> Task:
    """End a pause: the clock runs again, its due time moved by the business time spent waiting."""
    return _simple(sessions, task_id, TaskTrigger.RESUME, config=config, actor=actor, at=at,
                   expected_version=expected_version)


def _lock_complaint_of(s: Session, task_id: int) -> None:
    """Row-lock the task's complaint (PostgreSQL): changes that settle one complaint take turns. SQLite renders
    no ``FOR UPDATE``; its writers take turns on the whole database, so the write transaction is opened here
    (:func:`models.db.begin_write`), before the reads that settle: pysqlite would begin it only at the first
    write, which now comes at the commit's flush, after those reads (the last two prerequisites completed at
    once then each saw the other still active)."""
    if s.get_bind().dialect.name == "sqlite":
        begin_write(s.connection())
        return
    s.execute(select(Complaint.id).where(Complaint.id == select(Task.complaint_id).where(Task.id == task_id)
                                         .scalar_subquery()).with_for_update())


def complete_in_session(s: Session, task_id: int, *, config: Config, actor: str, at: datetime,
                        outcome: str = "", expected_version: int | None = None, root_cause: str | None = None,
                        root_cause_detail: str | None = None) -> Task:
    # completions of one complaint's tasks take turns (a row lock on the complaint, PostgreSQL): the later
    # one then sees the earlier as done, so the last two prerequisites finished at once still unblock
    # their dependent task and settle the complaint (each alone saw the other still active)
    _lock_complaint_of(s, task_id)
    return _complete_locked(s, task_id, config=config, actor=actor, at=at, outcome=outcome,
                            expected_version=expected_version, root_cause=root_cause,
                            root_cause_detail=root_cause_detail)


def _complete_locked(s: Session, task_id: int, *, config: Config, actor: str, at: datetime, outcome: str,
                     expected_version: int | None, root_cause: str | None, root_cause_detail: str | None,
                     siblings: Siblings | None = None) -> Task:
    """:func:`complete_in_session` after its lock (:func:`_lock_complaint_of`); ``siblings``: every task of the
    task's complaint, read after the lock (:func:`load_with_siblings`), for :func:`settle`."""
    task = load_task(s, task_id, expected_version)
    TASK_MACHINE.next_state(TaskStatus(task.status), TaskTrigger.COMPLETE)  # illegal: fail before any rule
    complaint = s.get(Complaint, task.complaint_id) if task.complaint_id is not None else None
    if root_cause is not None:
        if complaint is None:
            raise InvalidInput("root_cause", f"task {task_id} is an improvement action; it has no complaint")
        if (root_cause, root_cause_detail or None) != (complaint.root_cause, complaint.root_cause_detail):
            rc.record(s, complaint, root_cause, root_cause_detail, config=config, actor=actor, at=at)
    apply(s, task, TaskTrigger.COMPLETE, at=at, actor=actor, reason=outcome or None)  # ROOT_CAUSE_TASK guard
    task.outcome = outcome or None
    _begin_work(s, task, at, actor)
    tasks = None
    if complaint is not None:
        tasks = _settle_unflushed(s, complaint.id, at=at, config=config, siblings=siblings)
    else:
        s.flush()
    audit = siblings.audit_if_current(s) if siblings is not None and tasks is not None else None
    _refresh(s, task, config, at, tasks, audit)
    return task


def _settle_unflushed(s: Session, complaint_id: int, *, at: datetime, config: Config,
                      siblings: Siblings | None = None) -> list[Task] | None:
    """:func:`settle` without flushing the change first when its pending rows are only audit rows and column
    changes of loaded tasks and complaints (:func:`~closeloop.services.engine.ledger.pending_audit`): its reads
    (the complaint's tasks: the session's own objects, changes included; the dependencies of blocked ones) see
    what a flush would store, and the change is written in one flush with its due instants. Returns what
    :func:`settle` returns. ``siblings``: the complaint's tasks and their dependencies, read in this transaction
    after its lock; used only then (no new task or dependency pending, no task moved to another complaint: the
    reads would return these)."""
    if pending_audit(s) is None:
        s.flush()
        return settle(s, complaint_id, at=at, config=config)
    with s.no_autoflush:
        if siblings is None:
            return settle(s, complaint_id, at=at, config=config)
        return settle(s, complaint_id, at=at, config=config, tasks=siblings.tasks, deps=siblings.deps)


def complete(sessions, task_id: int, *, config: Config, actor: str, at: datetime, outcome: str = "",
             expected_version: int | None = None, root_cause: str | None = None,
             root_cause_detail: str | None = None, satisfied: bool | None = None) -> Task:
    """Finish a task with an outcome note; unblocks dependents; resolves the complaint when nothing is left.

    ``root_cause`` (a taxonomy code, optionally ``code.sub``) and ``root_cause_detail`` (a note;
    required with ``undetermined``) record the complaint's root cause. Raises ``InvalidInput``
    naming ``root_cause`` for an unknown code, for a root-cause task completed without one, or
    for a root cause on an improvement action; ``Conflict`` for a stale ``expected_version``.

    A customer ``follow-up`` task is completed with the customer's verdict ``satisfied`` (required:
    ``InvalidInput`` naming ``satisfied`` without it; issue 13): satisfied closes the complaint, not
    satisfied reopens it to the department that did the work (``lifecycle.record_follow_up``).
    ``satisfied`` on any other task is ``InvalidInput`` too.
    """

    with unit_of_work(sessions) as s:
        _lock_complaint_of(s, task_id)  # first: the reads below see what a completion before this one wrote
        task, _complaint, siblings = load_with_siblings(s, task_id)  # held: the settle and refresh read it
        if task.kind == SystemTaskKind.FOLLOW_UP:
            if satisfied is None:
                raise InvalidInput("satisfied", f"task {task_id} is a customer follow-up: complete it with the "
                                                "customer's verdict (satisfied true or false)")
            record_follow_up_in_session(s, task, config=config, satisfied=satisfied, note=outcome, actor=actor,
                                        at=at, expected_version=expected_version)
            return task
        if satisfied is not None:
            raise InvalidInput("satisfied", f"task {task_id} is not a customer follow-up (its kind is {task.kind!r})")
        return _complete_locked(s, task_id, config=config, actor=actor, at=at, outcome=outcome,
                                expected_version=expected_version, root_cause=root_cause,
                                root_cause_detail=root_cause_detail, siblings=siblings)  # locked above


def transfer(sessions, task_id: int, *, config: Config, to: str, reason: str, actor: str, at: datetime,
             expected_version: int | None = None) -> Task:
    """Hand a task to another department with a reason (``TASK_GUARDS``). Returns the new task."""
    with unit_of_work(sessions) as s:
        task = load_task(s, task_id, expected_version)
        return transfer_in_session(s, task, config=config, to=to, reason=reason, actor=actor, at=at)


def transfer_in_session(s: Session, task: Task, *, config: Config, to: str, reason: str, actor: str,
                        at: datetime) -> Task:
    """:func:`transfer` inside the caller's transaction (no commit); also a bulk transfer's step."""
    task_id = task.id
    target = s.get(Department, to)
    if target is None and to in config.departments:  # configured since the last intake synced the departments
        sync_departments(s, config, at)
        target = s.get(Department, to)
    if target is None or not target.active:
        raise InvalidInput("to", f"unknown or inactive department {to!r}")
    if to == task.department:
        raise InvalidInput("to", f"task {task_id} is already in department {to!r}")
    apply(s, task, TaskTrigger.TRANSFER, at=at, actor=actor, reason=reason,
          data={"to": to, "from": task.department})
    new = Task(complaint_id=task.complaint_id, improvement_id=task.improvement_id, department=to,
               kind=task.kind, title=task.title,
               instructions=task.instructions, status=TaskStatus.OPEN, transferred_from_id=task.id,
               transfer_reason=reason, created_at=at, updated_at=at)
    s.add(new)
    s.flush()
    deps = list(s.scalars(select(TaskDependency.depends_on_id).where(TaskDependency.task_id == task.id)))
    for dep in deps:
        s.add(TaskDependency(task_id=new.id, depends_on_id=dep))
    s.execute(update(TaskDependency).where(TaskDependency.depends_on_id == task.id)
              .values(depends_on_id=new.id))
    blocked = any(s.get_one(Task, d).status not in FINISHED_STATES for d in deps)
    new.status = TaskStatus.BLOCKED if blocked else TaskStatus.OPEN
    new.due_at = task.due_at if task.complaint_id is None else None  # an action keeps its due date
    s.add(Transition(**audit_dict("task", new.id, new.complaint_id, None, new.status, "create", actor, at,
                                  reason=reason, data={"transferred_from": task.id, "department": to})))
    if task.complaint_id is not None:
        complaint = s.get_one(Complaint, task.complaint_id)
        complaint.transfer_count += 1
        complaint.updated_at = at
    _refresh(s, task, config, at)
    return new


def cancel(sessions, task_id: int, *, config: Config, reason: str, actor: str, at: datetime,
           expected_version: int | None = None) -> Task:
    """Cancel a task that is no longer needed (a reason is required: ``TASK_GUARDS``)."""
    with unit_of_work(sessions) as s:
        _lock_complaint_of(s, task_id)  # a completion racing this cancel sees it (see complete_in_session)
        task = load_task(s, task_id, expected_version)
        apply(s, task, TaskTrigger.CANCEL, at=at, actor=actor, reason=reason)
        s.flush()
        if task.complaint_id is not None:
            settle(s, task.complaint_id, at=at, config=config)
        _refresh(s, task, config, at)
        return task


#: settle's statements, built once (a statement built per call computes its cache key each time)
_COMPLAINT_TASKS = select(Task).where(Task.complaint_id == bindparam("complaint_id"))
_DEPENDENCIES = (select(TaskDependency.task_id, TaskDependency.depends_on_id)
                 .where(TaskDependency.task_id.in_(bindparam("ids", expanding=True))))


def settle(session: Session, complaint_id: int, *, at: datetime, config: Config,
           tasks: list[Task] | None = None, deps: dict[int, list[int]] | None = None) -> list[Task] | None:
    """Unblock tasks whose dependencies are finished; resolve the complaint if no task is active.

    Without a recorded root cause the complaint is not resolved: a ``root-cause`` task goes to the
    lead of the department of the first finished task (the routing department).

    Returns the complaint's tasks as they now are (for its clocks' refresh, which need not read them
    again), or None when it created one (the triage fallback, the root-cause task). ``tasks``: the caller's
    objects of every task of the complaint, as the read would return them (not read again); ``deps``: with
    them, task id -> the ids it depends on (at least of every blocked task; not read again).
    """
    tasks = list(tasks) if tasks is not None else list(session.scalars(_COMPLAINT_TASKS,
                                                                        {"complaint_id": complaint_id}))
    status = {t.id: t.status for t in tasks}
    blocked = [t.id for t in tasks if t.status == TaskStatus.BLOCKED]  # only they read their dependencies
    if deps is None:
        deps = {}
        if blocked:
            for tid, dep in session.execute(_DEPENDENCIES, {"ids": blocked}):
                deps.setdefault(tid, []).append(dep)
    for t in tasks:
        if t.status == TaskStatus.BLOCKED:
            pending = [d for d in deps.get(t.id, []) if status.get(d, TaskStatus.DONE) not in FINISHED_STATES]
            if not pending:
                apply(session, t, TaskTrigger.UNBLOCK, at=at, actor="system",
                          reason=system_reason(SystemReason.DEPENDENCIES_FINISHED))
    if any(t.status in ACTIVE_STATES for t in tasks):
        return tasks
    complaint = session.get_one(Complaint, complaint_id)
    if not any(t.status == TaskStatus.DONE for t in tasks) and complaint.status in (
            ComplaintStatus.TRIAGED, ComplaintStatus.IN_PROGRESS, ComplaintStatus.REOPENED):
        # every task was cancelled or transferred away and nothing was done: back to the triage queue,
        # so the complaint is never stranded without anyone working on it
        fallback = config.triage_department
        t = Task(complaint_id=complaint_id, department=fallback, kind=SystemTaskKind.TRIAGE,
                 title=SYSTEM_TITLES[SystemTaskKind.TRIAGE], instructions="",
                 status=TaskStatus.OPEN, created_at=at, updated_at=at)
        add_task(session, t, actor="system", at=at, reason=system_reason(SystemReason.ALL_TASKS_CANCELLED))
        return None
    if ComplaintTrigger.RESOLVE in COMPLAINT_MACHINE.allowed(ComplaintStatus(complaint.status)) and \
            any(t.status == TaskStatus.DONE for t in tasks):
        if complaint.root_cause is None:
            rc.ask(session, complaint, tasks, at, config)
            return None
        apply(session, complaint, ComplaintTrigger.RESOLVE, at=at, actor="system",
                       reason=system_reason(SystemReason.DEPARTMENT_TASKS_FINISHED))
    return tasks


#: The use case behind each action a caller may take on a task: the machine's triggers a person fires, plus
#: ``assign`` (an event that keeps the status). The API's ``POST /tasks/{id}/transitions`` and the dashboard's
#: queue go through :func:`fire`; the CLI has one command per action.
ACTIONS: dict[str, Callable[..., Task]] = {
    TaskTrigger.ACKNOWLEDGE: acknowledge, TaskTrigger.START: start, TaskTrigger.COMPLETE: complete,
    TaskTrigger.PAUSE: pause, TaskTrigger.RESUME: resume, TaskTrigger.TRANSFER: transfer,
    TaskTrigger.CANCEL: cancel, "assign": assign,
}
#: actions whose caller becomes the assignee of an unassigned task (``taker_id``: the caller's user, if any)
_TAKES_UP = frozenset({TaskTrigger.ACKNOWLEDGE, TaskTrigger.START})


def fire(sessions, task_id: int, action: str, *, config: Config, actor: str, at: datetime,
         expected_version: int | None = None, taker_id: int | None = None, **payload: Any) -> Task:
    """Take ``action`` (a key of :data:`ACTIONS`) on a task with that action's own arguments in ``payload``
    (``complete``: outcome, root_cause, root_cause_detail, satisfied; ``pause``: reason, until; ``transfer``:
    to, reason; ``cancel``: reason; ``assign``: assignee). Returns the task, or for ``transfer`` the new task
    in the target department. Raises ``InvalidInput`` (field ``trigger``) for another action, and whatever
    the use case raises."""
    use_case = ACTIONS.get(action)
    if use_case is None:
        raise InvalidInput("trigger", f"unknown task action {action!r}; one of {', '.join(ACTIONS)}")
    if action in _TAKES_UP:
        payload["taker_id"] = taker_id
    return use_case(sessions, task_id, config=config, actor=actor, at=at, expected_version=expected_version,
                    **payload)
