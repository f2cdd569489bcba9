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
  (``[sla] at_risk_ratio``, default 80%) of its business-time budget, i.e. whose
  reminder timer for that threshold has come due (timers are rows, kept by every
  change and the sweep);
- **due today**: due within the current day of the department's calendar zone;
- **age** of an open complaint: calendar time since ``received_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from sqlalchemy import String, and_, case, cast, exists, func, literal, select
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.domain.errors import InvalidInput
from closeloop.domain.task import ACTIVE_STATES, TaskStatus
from models.tables import Complaint, Task, Timer

from .uow import unit_of_work

ACTIVE = sorted(str(s) for s in ACTIVE_STATES)
OPEN_COMPLAINT_EXCLUDES = ("resolved", "closed", "merged", "rejected")
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
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


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
        rows = list(s.scalars(select(Task).where(*where)
                              .order_by(Task.due_at.is_(None), Task.due_at, Task.id).limit(limit).offset(offset)))
        return QueuePage(rows, total)


def _at_risk_pct(config: Config) -> int:
    thresholds = sorted(round(p * 100) for p in config.model.escalation.reminder_thresholds)
    want = round(config.sla.at_risk_ratio * 100)
    below = [p for p in thresholds if p <= want]
    return below[-1] if below else (thresholds[0] if thresholds else want)


def _at_risk_condition(config: Config, now: datetime):
    key = literal("reminder:") + cast(Task.id, String) + literal(f":{_at_risk_pct(config)}")
    return and_(Task.due_at >= now, exists().where(Timer.key == key, Timer.fire_at <= now))


def _by(session: Session, *cols_and_where, group) -> list[tuple]:
    return list(session.execute(select(*group, func.count()).where(*cols_and_where).group_by(*group)))


def overview(sessions, config: Config, *, now: datetime) -> dict:
    """The manager overview as plain data (JSON-ready apart from nothing: all values are str/int).

    ```
    {"as_of": iso, "complaints_by_status": {status: n}, "open_complaints": n,
     "departments": {dept: {"active": n, "by_status": {status: n}, "breached": n, "ack_overdue": n,
                            "at_risk": n, "due_today": n}},
     "age_of_open_complaints": [{"bucket": "<1d", "count": n}, ...]}
    ```
    Every configured department appears, with zeros when it has no work.
    """
    with unit_of_work(sessions) as s:
        by_status = {st: n for st, n in _by(s, group=[Complaint.status])}
        depts: dict[str, dict] = {d: {"active": 0, "by_status": {}, "breached": 0, "ack_overdue": 0, "at_risk": 0,
                                      "due_today": 0} for d in sorted(config.departments)}
        active = Task.status.in_(ACTIVE)
        for dept, st, n in _by(s, active, group=[Task.department, Task.status]):
            d = depts.setdefault(dept, {"active": 0, "by_status": {}, "breached": 0, "ack_overdue": 0,
                                        "at_risk": 0, "due_today": 0})
            d["by_status"][st] = n
            d["active"] += n
        for name, cond in (("breached", Task.due_at < now), ("ack_overdue", Task.ack_due_at < now),
                           ("at_risk", _at_risk_condition(config, now))):
            for dept, n in _by(s, active, cond, group=[Task.department]):
                depts.setdefault(dept, {"by_status": {}})[name] = n
        for dept in list(depts):
            if dept in config.departments:
                start, end = _today_bounds(config, dept, now)
                depts[dept]["due_today"] = s.scalar(select(func.count()).select_from(Task).where(
                    Task.department == dept, active, Task.due_at >= start, Task.due_at < end)) or 0
        ages = []
        for label, lo, hi in AGE_BUCKETS:
            cond = [Complaint.received_at <= now - timedelta(days=lo)]
            if hi is not None:
                cond.append(Complaint.received_at > now - timedelta(days=hi))
            ages.append(case((and_(*cond), 1), else_=0))
        row = s.execute(select(*(func.coalesce(func.sum(a), 0) for a in ages), func.count())
                        .where(Complaint.status.not_in(OPEN_COMPLAINT_EXCLUDES))).one()
        return {
            "as_of": now.isoformat(),
            "complaints_by_status": dict(sorted(by_status.items())),
            "open_complaints": int(row[-1]),
            "departments": depts,
            "age_of_open_complaints": [{"bucket": b[0], "count": int(n)} for b, n in zip(AGE_BUCKETS, row[:-1])],
        }
