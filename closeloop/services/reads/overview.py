"""Read models for departments and managers: a department's task queue and the manager overview.

Set-based SQL only (aggregates with GROUP BY, one statement per figure; no
per-row Python), so both stay fast at 100,000 complaints (``bench/api.py``).
Shared by the REST API and the web dashboard. ``now`` is a UTC-aware instant from
the injected clock.

Definitions:

- **active** task: ``open``, ``acknowledged``, ``in_progress``, ``blocked`` or ``waiting``;
- **breached**: an active task whose resolve due instant (``task.due_at``) has passed;
  **ack overdue**: whose acknowledge due instant (``ack_due_at``) has passed;
- **at risk**: an active task not yet breached that has used up the at-risk share
  (``[sla] at_risk_ratio``, default 80%) of its business-time resolve budget, the
  same verdict as its resolve clock's ``at_risk`` status (derived from the stored
  running ``due_at`` and the department's calendar, see :func:`_at_risk_windows`);
- **due today**: due within the current day of the department's calendar zone;
- **age** of an open complaint: calendar time since ``received_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.domain.complaint import OPEN_STATES
from closeloop.domain.errors import InvalidInput
from closeloop.domain.outbox import OutboxStatus
from closeloop.domain.task import ACTIVE_STATES, FINISHED_STATES, TaskStatus
from closeloop.domain.triage import SEVERITIES
from closeloop.services.uow import unit_of_work
from models.tables import Complaint, Outbox, Task

ACTIVE = sorted(str(s) for s in ACTIVE_STATES)
FINISHED = sorted(str(s) for s in FINISHED_STATES)
#: Age buckets of open complaints (calendar days): label, lower bound (inclusive), upper bound (exclusive).
AGE_BUCKETS = (("<1d", 0, 1), ("1-3d", 1, 3), ("3-7d", 3, 7), ("7-30d", 7, 30), (">=30d", 30, None))


@dataclass
class QueuePage:
    tasks: list[Task]
    total: int


def _today_bounds(config: Config, department: str, now: datetime) -> tuple[datetime, datetime]:
    zone = config.department_calendar(department).zone
    local = now.astimezone(zone).date()
    start = datetime.combine(local, time(0), tzinfo=zone)
    end = datetime.combine(local + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def department_queue(sessions, config: Config, department: str, *, now: datetime, status: list[str] | None = None,
                     overdue: bool = False, due_today: bool = False, limit: int = 50,
                     offset: int = 0) -> QueuePage:
    """A department's tasks, most urgent first (due instant, then id).

    ``status``: task statuses to include (default: the active ones). ``overdue``:
    resolve due instant before ``now``. ``due_today``: due within today in the
    department's calendar zone. Raises ``InvalidInput`` for an unknown department or status.
    """
    if department not in config.departments:
        raise InvalidInput("department", f"unknown department {department!r}")
    statuses = status or ACTIVE
    unknown = [s for s in statuses if s not in {str(x) for x in TaskStatus}]
    if unknown:
        raise InvalidInput("status", f"unknown task status {unknown[0]!r}")
    where = [Task.department == department, Task.status.in_(statuses)]
    if overdue:
        where.append(Task.due_at < now)
    if due_today:
        start, end = _today_bounds(config, department, now)
        where += [Task.due_at >= start, Task.due_at < end]
    with unit_of_work(sessions) as s:
        total = s.scalar(select(func.count()).select_from(Task).where(*where)) or 0
        # tasks with a due instant first, in its order (the due_at index serves it), then the others by id
        rows = list(s.scalars(select(Task).where(*where, Task.due_at.is_not(None))
                              .order_by(Task.due_at, Task.id).limit(limit).offset(offset)))
        if len(rows) < limit and not (overdue or due_today):
            with_due = offset + len(rows) if rows else s.scalar(
                select(func.count()).select_from(Task).where(*where, Task.due_at.is_not(None))) or 0
            rows += s.scalars(select(Task).where(*where, Task.due_at.is_(None)).order_by(Task.id)
                              .limit(limit - len(rows)).offset(max(0, offset - with_due)))
        return QueuePage(rows, total)


def _at_risk_windows(config: Config, now: datetime) -> list[tuple[str, str, datetime]]:
    """``(department, severity, horizon)``: a running task is at risk when at most ``1 - at_risk_ratio``
    of its resolve budget is left, i.e. exactly when ``now <= due_at <= horizon`` with ``horizon`` that
    share of its target added to ``now`` on the department's calendar (business time is monotonic)."""
    share = 1 - config.sla.at_risk_ratio
    out = []
    for dept in sorted(config.departments):
        cal = config.department_calendar(dept)
        for sev in SEVERITIES:
            target = config.sla.for_department(dept, sev).resolve
            if target:
                out.append((dept, sev, cal.add_business_time(now, target * share).astimezone(UTC)))
    return out


def _at_risk_by_department(session: Session, config: Config, now: datetime) -> dict[str, int]:
    """Active, not yet breached complaint tasks at risk (see :func:`_at_risk_windows`), per department:
    one range scan on ``task.due_at`` up to the largest horizon, joined to the complaint's severity."""
    windows = _at_risk_windows(config, now)
    if not windows:
        return {}
    cond = or_(*(and_(Task.department == d, Complaint.severity == sev, Task.due_at <= h) for d, sev, h in windows))
    q = (select(Task.department, func.count()).join(Complaint, Complaint.id == Task.complaint_id)
         .where(Task.due_at >= now, Task.due_at <= max(h for _, _, h in windows), Task.status.in_(ACTIVE), cond)
         .group_by(Task.department))
    return {d: n for d, n in session.execute(q)}


def _due_today_condition(config: Config, now: datetime):
    """SQL: the task's due instant falls within today in its department's calendar zone."""
    by_zone: dict[tuple[datetime, datetime], list[str]] = {}
    for dept in config.departments:
        by_zone.setdefault(_today_bounds(config, dept, now), []).append(dept)
    return or_(*(and_(Task.department.in_(sorted(depts)), Task.due_at >= start, Task.due_at < end)
                 for (start, end), depts in by_zone.items()))


def _figures() -> dict:
    return {"active": 0, "by_status": {}, "breached": 0, "ack_overdue": 0, "at_risk": 0, "due_today": 0}


def overview(sessions, config: Config, *, now: datetime) -> dict:
    """The manager overview as plain data (JSON-ready apart from nothing: all values are str/int).

    ```
    {"as_of": iso, "complaints_by_status": {status: n}, "open_complaints": n,
     "promise_breached": n (open complaints past the customer promise's resolve due instant),
     "departments": {dept: {"active": n, "by_status": {status: n}, "breached": n, "ack_overdue": n,
                            "at_risk": n, "due_today": n}},
     "age_of_open_complaints": [{"bucket": "<1d", "count": n}, ...],
     "dead_letters": {reason: n}}
    ```
    ``dead_letters``: outbox messages nobody was told by (status ``dead``), by reason; empty when none.
    Every configured department appears, with zeros when it has no work.
    """
    with unit_of_work(sessions) as s:
        by_status = dict(list(s.execute(select(Complaint.status, func.count()).group_by(Complaint.status))))
        depts: dict[str, dict] = {d: _figures() for d in sorted(config.departments)}
        for dept, st, n in s.execute(select(Task.department, Task.status, func.count())  # index only
                                     .where(Task.status.in_(ACTIVE)).group_by(Task.department, Task.status)):
            d = depts.setdefault(dept, _figures())
            d["by_status"][st] = n
            d["active"] += n
        # only active tasks carry due instants; NOT IN lets the due-instant indexes drive these ranges
        running = Task.status.not_in(FINISHED)
        for name, cond in (("breached", Task.due_at < now), ("ack_overdue", Task.ack_due_at < now),
                           ("due_today", _due_today_condition(config, now))):
            for dept, n in s.execute(select(Task.department, func.count()).where(cond, running)
                                     .group_by(Task.department)):
                depts.setdefault(dept, _figures())[name] = n
        for dept, n in _at_risk_by_department(s, config, now).items():
            depts.setdefault(dept, _figures())["at_risk"] = n
        ages = []
        for _label, lo, hi in AGE_BUCKETS:
            cond = [Complaint.received_at <= now - timedelta(days=lo)]
            if hi is not None:
                cond.append(Complaint.received_at > now - timedelta(days=hi))
            ages.append(case((and_(*cond), 1), else_=0))
        ages.append(case((Complaint.due_at < now, 1), else_=0))  # past the customer promise (issue 14)
        row = s.execute(select(*(func.coalesce(func.sum(a), 0) for a in ages), func.count())
                        .where(Complaint.status.in_(sorted(map(str, OPEN_STATES))))).one()
        dead = dict(list(s.execute(select(Outbox.dead_reason, func.count()).where(Outbox.status == OutboxStatus.DEAD)
                                   .group_by(Outbox.dead_reason))))
        return {
            "as_of": now.isoformat(),
            "complaints_by_status": dict(sorted(by_status.items())),
            "open_complaints": int(row[-1]),
            "promise_breached": int(row[-2]),
            "departments": depts,
            "age_of_open_complaints": [{"bucket": b[0], "count": int(n)}
                                       for b, n in zip(AGE_BUCKETS, row[:-2], strict=True)],
            "dead_letters": dict(sorted(dead.items())),
        }
