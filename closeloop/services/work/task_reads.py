"""How a task use case reads its task: with its complaint, and for a completion on SQLite also the complaint's
other tasks, their dependencies and its audit rows, in one statement (issue 17). Used by
:mod:`closeloop.services.work.tasks`; ``NotFound`` for a missing task, ``Conflict`` for a stale version."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import and_, bindparam, case, func, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.util import identity_key

from closeloop.domain.errors import NotFound
from closeloop.services.engine.ledger import audit_json, stored_audit
from closeloop.services.plain_flush import flushes
from closeloop.services.transitions import check_version
from models.tables import Complaint, Task, TaskDependency


def load_task(session: Session, task_id: int, expected_version: int | None = None) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise NotFound("task", task_id)
    check_version(task, expected_version, "task")
    return task


#: a task and its complaint (None for an improvement action) in one statement
_TASK_AND_COMPLAINT = (select(Task, Complaint).outerjoin(Complaint, Complaint.id == Task.complaint_id)
                       .where(Task.id == bindparam("task_id")))


def load_held(session: Session, task_id: int, expected_version: int | None) -> tuple[Task, Complaint | None]:
    """:func:`load_task` and :func:`held_complaint`, in one statement when the session does not hold the task (for
    a change that takes no row lock on the complaint between the two reads)."""
    if session.identity_map.get(identity_key(Task, task_id)) is not None:
        task = load_task(session, task_id, expected_version)
        return task, held_complaint(session, task)
    row = session.execute(_TASK_AND_COMPLAINT, {"task_id": task_id}).first()
    if row is None:
        raise NotFound("task", task_id)
    check_version(row[0], expected_version, "task")
    return row[0], row[1]


_SIBLING = aliased(Task)
#: a task with its complaint, and the complaint's other tasks (their complaint columns NULL: read once), by id,
#: each with the ids of the tasks it depends on (SQLite's ``group_concat``: "3,4", NULL for none); the task's own
#: row also with the complaint's audit rows for its clocks (``ledger.audit_json``; NULL on the other rows)
_TASKS_OF_TASK = (select(Task, Complaint, select(func.group_concat(TaskDependency.depends_on_id))
                         .where(TaskDependency.task_id == Task.id).scalar_subquery(),
                         case((Task.id == bindparam("task_id"), audit_json(Task.complaint_id))))
                  .outerjoin(Complaint, and_(Complaint.id == Task.complaint_id, Task.id == bindparam("task_id")))
                  .where(or_(Task.id == bindparam("task_id"),
                             Task.complaint_id == select(_SIBLING.complaint_id)
                             .where(_SIBLING.id == bindparam("task_id")).scalar_subquery()))
                  .order_by(Task.id))


class Siblings(NamedTuple):
    """Every task of a complaint with what each depends on (task id -> its prerequisites' ids), for :func:`settle`,
    and the complaint's stored audit rows for its clocks, read in one statement after a completion's lock."""

    tasks: list[Task]
    deps: dict[int, list[int]]
    audit: list[tuple]
    flushes: int | None

    def audit_if_current(self, session: Session) -> list[tuple] | None:
        """The audit rows while nothing was flushed since their read (``flushes``), else None (to read again)."""
        now = flushes(session)
        return self.audit if now is not None and now == self.flushes else None


def load_with_siblings(session: Session, task_id: int) -> tuple[Task, Complaint | None, Siblings | None]:
    """:func:`load_held` for a completion, which settles the complaint: on SQLite (the write transaction open:
    no other writer commits until this one does) the complaint's tasks, their dependencies and its audit rows come
    in the same statement, for :func:`settle` and the clocks (None: read there, as elsewhere). The complaint is
    returned for the caller to hold (:func:`held_complaint`)."""
    if (session.get_bind().dialect.name != "sqlite"
            or session.identity_map.get(identity_key(Task, task_id)) is not None):
        return *load_held(session, task_id, None), None
    rows = session.execute(_TASKS_OF_TASK, {"task_id": task_id}).all()
    found = next((r for r in rows if r[0].id == task_id), None)
    if found is None:
        raise NotFound("task", task_id)
    task, complaint = found[0], found[1]
    if complaint is None:
        return task, None, None
    deps = {r[0].id: [int(d) for d in r[2].split(",")] for r in rows if r[2]}
    return task, complaint, Siblings([r[0] for r in rows], deps, stored_audit(session, found[3]), flushes(session))


def held_complaint(session: Session, task: Task) -> Complaint | None:
    """The task's complaint (None for an improvement action), for the caller to hold while it changes the task:
    the session keeps unchanged rows only while something refers to them, so a complaint each step loads and
    drops (the clock flag, the first-work start) would be read from the database again at every step."""
    return session.get(Complaint, task.complaint_id) if task.complaint_id is not None else None
