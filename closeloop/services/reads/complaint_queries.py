"""Complaint reads for the API and the dashboard: filtered lists, detail with clocks, department scope.

``department`` arguments scope a read to the complaints that department's tasks
touch (a task of the complaint, in any status, belongs to it); None reads all.
Instants are UTC-aware; clock durations are business time (see ``services/engine/clocks.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, select, union_all

from closeloop.config import Config
from closeloop.domain.complaint import ComplaintStatus
from closeloop.domain.errors import InvalidInput, NotFound, refuse_nul
from closeloop.domain.task import ACTIVE_STATES
from closeloop.domain.triage import SEVERITIES
from closeloop.services.engine.clocks import ClockView, complaint_clocks, task_clocks
from closeloop.services.reads.search import ComplaintSort, id_in, matching_ids, order_by
from closeloop.services.uow import unit_of_work
from closeloop.services.work.complaints import ComplaintView, show
from models.tables import Complaint, Task

FEW_MATCHES = 2000  # search matches fetched as a list of ids; above, the sort column's index is walked


@dataclass
class ComplaintFilter:
    """Filters of :func:`list_complaints` (all optional; instants UTC-aware, bounds inclusive-exclusive)."""

    status: list[str] | None = None
    severity: list[str] | None = None
    department: str | None = None
    overdue: bool = False
    created_from: datetime | None = None
    created_to: datetime | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    q: str | None = None  # search text (services/reads/search.py: id, reference, customer ref or terms)


def touches(department: str):
    """SQL condition: the complaint has a task in ``department``."""
    return exists().where(Task.complaint_id == Complaint.id, Task.department == department)


def list_complaints(sessions, f: ComplaintFilter, *, now: datetime, scope: str | None = None, limit: int = 50,
                    offset: int = 0, sort: ComplaintSort = ComplaintSort.ID) -> tuple[list[Complaint], int]:
    """Complaints matching ``f`` (and ``scope``) in ``sort`` order; returns ``(page, total)``.

    ``overdue``: the customer promise's resolve due instant is before ``now``.
    ``department``: the complaint has a task there. ``q``: see ``services/reads/search.py``.
    Raises ``InvalidInput`` naming the field.
    """
    where = _conditions(f, now, scope)
    with unit_of_work(sessions) as s:
        if f.q is None:
            total = s.scalar(select(func.count()).select_from(Complaint).where(*where)) or 0
        else:
            total = _add_search(s, f.q, where)
        rows = list(s.scalars(select(Complaint).where(*where).order_by(*order_by(sort)).limit(limit).offset(offset)))
        return rows, total


def _add_search(s, q: str, where: list) -> int:
    """Append the search condition to ``where``; returns the number of complaints matching all.

    Planned by that number: up to ``FEW_MATCHES`` the ids are fetched (one pass that stops there)
    and listed (look-ups by primary key); more are counted and then tested row by row while the
    planner walks the sort column's index (``search.id_in(by_scan=True)``).
    """
    ids = matching_ids(s, q)
    if where:
        first = list(s.scalars(select(Complaint.id).where(*where, id_in(ids)).limit(FEW_MATCHES + 1)))
        complete, found = len(first) <= FEW_MATCHES, set(first)
    else:  # UNION ALL streams (and stops at the limit); a complaint matched twice is counted once
        first = list(s.scalars(union_all(*ids.selects).limit(FEW_MATCHES + 1)))
        complete, found = len(first) <= FEW_MATCHES, set(first)
    if complete:
        where.append(Complaint.id.in_(sorted(found)))
        return len(found)
    if where:
        total = s.scalar(select(func.count()).select_from(Complaint).where(*where, id_in(ids))) or 0
    else:  # the search alone: count the matches, not the complaints
        total = s.scalar(select(func.count()).select_from(ids.subquery())) or 0
    where.append(id_in(ids, by_scan=True))
    return total


def _conditions(f: ComplaintFilter, now: datetime, scope: str | None) -> list:
    for name in ("q", "department"):  # the text filters (every caller: API, its export, dashboard, saved views)
        refuse_nul(name, getattr(f, name))
    where: list[ColumnElement[bool]] = []
    if f.status:
        bad = [s for s in f.status if s not in {str(x) for x in ComplaintStatus}]
        if bad:
            raise InvalidInput("status", f"unknown complaint status {bad[0]!r}")
        where.append(Complaint.status.in_(f.status))
    if f.severity:
        bad = [s for s in f.severity if s not in SEVERITIES]
        if bad:
            raise InvalidInput("severity", f"unknown severity {bad[0]!r}; one of {', '.join(SEVERITIES)}")
        where.append(Complaint.severity.in_(f.severity))
    for dept in filter(None, (f.department, scope)):
        where.append(touches(dept))
    if f.overdue:
        where.append(Complaint.due_at < now)
    for col, lo, hi, name in ((Complaint.created_at, f.created_from, f.created_to, "created"),
                              (Complaint.received_at, f.received_from, f.received_to, "received")):
        if lo and hi and hi <= lo:
            raise InvalidInput(f"{name}_to", f"must be later than {name}_from")
        if lo:
            where.append(col >= lo)
        if hi:
            where.append(col < hi)
    return where


def complaint_in_scope(sessions, complaint_id: int, department: str | None) -> bool:
    """Whether the complaint exists for this scope (``NotFound`` if it does not exist at all)."""
    with unit_of_work(sessions) as s:
        if s.get(Complaint, complaint_id) is None:
            raise NotFound("complaint", complaint_id)
        if department is None:
            return True
        return bool(s.scalar(select(exists().where(Task.complaint_id == complaint_id,
                                                   Task.department == department))))


def task_department(sessions, task_id: int) -> str:
    """The department a task belongs to (``NotFound`` for an unknown task)."""
    with unit_of_work(sessions) as s:
        dept = s.scalar(select(Task.department).where(Task.id == task_id))
        if dept is None:
            raise NotFound("task", task_id)
        return dept


def _fetch(sessions, model, entity: str, key: int):
    with unit_of_work(sessions) as s:
        row = s.get(model, key)
        if row is None:
            raise NotFound(entity, key)
        return row


def get_task(sessions, task_id: int) -> Task:
    """The task as stored now (``NotFound`` if unknown)."""
    return _fetch(sessions, Task, "task", task_id)


def get_complaint(sessions, complaint_id: int) -> Complaint:
    """The complaint as stored now (``NotFound`` if unknown)."""
    return _fetch(sessions, Complaint, "complaint", complaint_id)


@dataclass
class ComplaintDetail:
    view: ComplaintView
    clocks: list[ClockView]


def complaint_detail(sessions, config: Config, complaint_id: int, *, now: datetime) -> ComplaintDetail:
    """The complaint, its tasks, timeline (merged complaints included) and clocks as of ``now``:
    the customer promise's clocks first, then each active task's acknowledge/resolve/update clocks."""
    view = show(sessions, complaint_id)
    with unit_of_work(sessions) as s:
        c = s.get_one(Complaint, complaint_id)
        clocks = list(complaint_clocks(s, c, config, now))
        for t in s.scalars(select(Task).where(Task.complaint_id == c.id, Task.status.in_(ACTIVE_STATES))
                           .order_by(Task.id)):
            clocks.extend(task_clocks(s, t, config, now))
    return ComplaintDetail(view, clocks)


def task_with_clocks(sessions, config: Config, task_id: int, *, now: datetime) -> tuple[Task, list[ClockView]]:
    """A task and its acknowledge, resolve and update clocks as of ``now`` (``NotFound`` if unknown)."""
    with unit_of_work(sessions) as s:
        t = s.get(Task, task_id)
        if t is None:
            raise NotFound("task", task_id)
        return t, task_clocks(s, t, config, now)
