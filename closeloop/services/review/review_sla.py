"""Department figures of the monthly review: SLA compliance, overdue work, complaints that bounced.

All clocks are rebuilt from the audit log *as of the period's end* (or ``now`` when the
period is still running), so a report of a past month does not change as later work happens.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.domain.sla import ClockStatus
from closeloop.services.engine.clocks import task_clocks
from closeloop.services.engine.ledger import History
from closeloop.services.reads.as_of import latest_at, merged_into_at, values_at
from closeloop.services.review.review_period import Period
from closeloop.services.work.lifecycle import NOT_WORK_KINDS
from models.tables import Task, Transition

SKIPPED_TASK_STATES = ("transferred", "cancelled")  # a transferred task's time counts in its successor's chain


def department_sla(s: Session, config: Config, period: Period, as_of: datetime) -> dict[str, dict]:
    """Per department, its work on complaints (customer follow-up tasks are not department work: they are in
    :func:`follow_up_sla`; improvement records' corrective/preventive action tasks are not complaint work: they
    are in :func:`improvement_action_sla`, as the replay's summary keeps both apart):
    ``{"completed", "met", "breached", "compliance", "open_at_end", "overdue_at_end",
    "overdue_tasks": [{"task", "complaint", "title", "due_at", "overdue_business_hours"}]}``.

    ``completed`` counts tasks whose resolve clock stopped (task done) inside the period; ``met`` those
    done within their resolve target (business time on the department's calendar, pauses excluded).
    ``compliance`` is ``met / completed`` (None without completed tasks). ``open_at_end`` counts tasks
    whose clock was still running or paused at ``as_of``; ``overdue_at_end`` those past their due
    instant. Tasks without a target count as met when done and never as overdue.
    """
    return _task_sla(s, config, period, as_of, and_(Task.kind.not_in(NOT_WORK_KINDS), Task.complaint_id.is_not(None)))


def improvement_action_sla(s: Session, config: Config, period: Period, as_of: datetime) -> dict[str, dict]:
    """The improvement records' action tasks (corrective/preventive actions: no complaint of their own) per
    department that holds them, in the figures of :func:`department_sla` (its ``overdue_tasks`` name the
    ``improvement`` record)."""
    return _task_sla(s, config, period, as_of, and_(Task.complaint_id.is_(None), Task.improvement_id.is_not(None)))


def follow_up_sla(s: Session, config: Config, period: Period, as_of: datetime) -> dict[str, dict]:
    """The customer follow-up tasks (contacting the customer after resolution: the customer-loop step, not
    department work) per department that holds them (``[follow_up] department``), in the figures of
    :func:`department_sla`."""
    return _task_sla(s, config, period, as_of, Task.kind.in_(NOT_WORK_KINDS))


def _task_sla(s: Session, config: Config, period: Period, as_of: datetime,
              kinds: ColumnElement[bool]) -> dict[str, dict]:
    """:func:`department_sla`'s figures of the tasks the SQL condition ``kinds`` selects."""
    out: dict[str, dict] = defaultdict(lambda: {"completed": 0, "met": 0, "breached": 0, "open_at_end": 0,
                                                "overdue_at_end": 0, "overdue_tasks": []})
    then = tasks_at(s, as_of, kinds)
    for t, complaint_id, severity in then.tasks:
        clock = next(v.clock for v in task_clocks(s, t, config, as_of, with_update=False, history=then.history,
                                                  severity=severity) if v.clock.name == "resolve")
        row = out[t.department]
        if clock.status == ClockStatus.CANCELLED:
            continue
        if clock.stopped_at is not None:
            if period.start <= clock.stopped_at < period.end:
                row["completed"] += 1
                row["breached" if clock.breached else "met"] += 1
            continue
        row["open_at_end"] += 1
        if clock.breached:
            row["overdue_at_end"] += 1
            over = -(clock.remaining.total_seconds()) / 3600 if clock.remaining is not None else None
            row["overdue_tasks"].append({
                "task": t.id, "complaint": complaint_id, "improvement": getattr(t, "improvement_id", None),
                "title": t.title, "due_at": clock.due_at.isoformat() if clock.due_at else None,
                "overdue_business_hours": round(over, 2) if over is not None else None})
    for row in out.values():
        row["compliance"] = round(row["met"] / row["completed"], 4) if row["completed"] else None
        row["overdue_tasks"].sort(key=lambda r: -(r["overdue_business_hours"] or 0))
    return dict(sorted(out.items()))


class TasksAt(NamedTuple):
    """The tasks of :func:`tasks_at` with the history their clocks read."""

    tasks: list[tuple[Task, int | None, str | None]]  # task, its complaint then, that complaint's severity then
    history: History


def tasks_at(s: Session, as_of: datetime, kinds: ColumnElement[bool]) -> TasksAt:
    """The tasks (of the SQL condition ``kinds``; complaint work or improvement actions) that existed at ``as_of``
    and were neither transferred nor cancelled then (their status at ``as_of``: the audit log's, so one cancelled or
    transferred later still counts), each with the complaint it belonged to then (a merge moves a duplicate's
    tasks to the survivor: one after ``as_of`` had not happened) and that complaint's severity then (the targets
    its clocks run on: a later priority change does not move a past month). A fixed number of statements."""
    created = and_(Task.created_at < as_of, kinds)
    tasks = s.scalars(select(Task).where(created).order_by(Task.id)).all()
    then = {tid: (state, cid) for tid, state, cid in latest_at(s, "task", as_of, select(Task.id).where(created))}
    merged = merged_into_at(s, as_of)
    kept: list[tuple[Task, int | None]] = []
    for t in tasks:
        state, cid = then.get(t.id, (t.status, t.complaint_id))
        if state in SKIPPED_TASK_STATES or (t.complaint_id is None and t.improvement_id is None):
            continue
        cid = t.complaint_id if cid is None else merged.get(cid, cid)
        kept.append((t, cid if t.complaint_id is not None else None))
    # one read for all: the complaints the tasks belong to now and belonged to then (whose severity then counts)
    history = History.load(s, {c for t, cid in kept for c in (t.complaint_id, cid) if c is not None})
    severity = values_at(s, "complaint", "reprioritize", ("to", "from"),
                         {c.id: c.severity for c in history.complaints.values()}, None, as_of)
    return TasksAt([(t, cid, severity.get(cid) if cid is not None else None) for t, cid in kept], history)


def bounced_complaints(s: Session, period: Period, transfer_limit: int) -> list[dict]:
    """Complaints transferred in the period that bounced: more than ``transfer_limit`` transfers in
    their life so far, or sent back to a department that had already passed them on (ping-pong).

    Each: ``{"complaint", "transfers", "path": ["service", "operations", "service"], "ping_pong", "reasons"}``,
    most transfers first. Transfers are read from the audit log (trigger ``transfer``, data ``from``/``to``).
    """
    touched = set(s.scalars(select(Transition.complaint_id).where(
        Transition.entity == "task", Transition.trigger == "transfer",
        Transition.at >= period.start, Transition.at < period.end)))
    if not touched:
        return []
    rows = s.execute(select(Transition.complaint_id, Transition.data, Transition.reason)
                     .where(Transition.entity == "task", Transition.trigger == "transfer",
                            Transition.complaint_id.in_(touched), Transition.at < period.end)
                     .order_by(Transition.complaint_id, Transition.at, Transition.id)).all()
    paths: dict[int, list] = defaultdict(list)
    for cid, data, reason in rows:
        paths[cid].append(((data or {}).get("from"), (data or {}).get("to"), reason))
    out = []
    for cid, hops in paths.items():
        path = [hops[0][0]] + [to for _, to, _ in hops]
        ping_pong = any(path[i] in path[:i - 1] for i in range(2, len(path)))
        if len(hops) > transfer_limit or ping_pong:
            out.append({"complaint": cid, "transfers": len(hops), "path": path, "ping_pong": ping_pong,
                        "reasons": [r for _, _, r in hops if r]})
    return sorted(out, key=lambda r: (-r["transfers"], r["complaint"]))
