"""Figures of a replay (or of any database): what happened, per department, per week.

:func:`build_summary` returns plain JSON-able data; :func:`render_html` turns it
into a self-contained ``report.html`` with inline SVG charts (no network, no JS).
"""

from __future__ import annotations

import statistics
from collections import Counter
from datetime import datetime, timedelta
from importlib import resources

from jinja2 import Environment, select_autoescape
from sqlalchemy import func, select

from closeloop.config import Config
from closeloop.domain.complaint import OPEN_STATES
from closeloop.domain.notices import NoticeKind
from closeloop.domain.task import ACTIVE_STATES
from models.tables import (
    Complaint, EffectivenessCheck, Improvement, ImprovementLink, Notification, Outbox, Task, Transition,
)

from .charts import bars as _bars
from .clocks import task_clocks


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def build_summary(sessions, config: Config, now: datetime, quality, plan: dict) -> dict:
    with sessions() as s:
        complaints = s.scalars(select(Complaint)).all()
        tasks = s.scalars(select(Task)).all()
        done_at = dict(s.execute(select(Transition.entity_id, func.max(Transition.at)).where(
            Transition.entity == "task", Transition.to_state == "done").group_by(Transition.entity_id)).all())
        resolved_at = dict(s.execute(select(Transition.entity_id, func.min(Transition.at)).where(
            Transition.entity == "complaint", Transition.to_state == "resolved").group_by(Transition.entity_id)).all())
        notes = s.scalars(select(Notification)).all()
        outbox = dict(s.execute(select(Outbox.status, func.count()).group_by(Outbox.status)).all())
        follow = s.execute(select(Transition.data).where(Transition.trigger == "follow_up")).scalars().all()
        departments: dict[str, dict] = {}
        for dep in sorted({t.department for t in tasks}):
            dep_tasks = [t for t in tasks if t.department == dep]
            cal = config.department_calendar(dep)
            hours, business = [], []
            breached = with_target = 0
            for t in dep_tasks:
                if t.id in done_at:
                    hours.append((done_at[t.id] - t.created_at).total_seconds() / 3600)
                    business.append(cal.business_time_between(t.created_at, done_at[t.id]).total_seconds() / 3600)
                if t.status in ("transferred", "cancelled"):
                    continue
                clock = next(v.clock for v in task_clocks(s, t, config, now) if v.clock.name == "resolve")
                if clock.target is not None:
                    with_target += 1
                    breached += bool(clock.breached)
            departments[dep] = {
                "tasks": len(dep_tasks),
                "completed": sum(1 for t in dep_tasks if t.status == "done"),
                "open": sum(1 for t in dep_tasks if t.status in ACTIVE_STATES),
                "median_hours_to_complete": _median(hours),
                "median_business_hours_to_complete": _median(business),
                "sla_tasks": with_target, "sla_breached": breached,
                "sla_compliance": round(1 - breached / with_target, 4) if with_target else None,
            }
    by_status = Counter(c.status for c in complaints)
    open_states = OPEN_STATES
    accounted = {
        "rows": quality.rows,
        "complaints_resolved_or_closed": by_status.get("resolved", 0) + by_status.get("closed", 0),
        "complaints_open": sum(n for st, n in by_status.items() if st in open_states),
        "complaints_merged": by_status.get("merged", 0),
        "rejected_not_complaints": by_status.get("rejected", 0),
        "duplicates": quality.duplicates,
        "bad_rows": len(quality.bad_rows),
    }
    accounted["all_rows_accounted_for"] = quality.rows == sum(v for k, v in accounted.items() if k != "rows")
    kinds = Counter(n.kind for n in notes)
    escalation_levels = Counter(n.level for n in notes if n.kind == NoticeKind.ESCALATION)
    weekly = Counter(_week(n.fired_at) for n in notes if n.kind in (NoticeKind.ESCALATION, NoticeKind.PROMISE))
    satisfied = sum(1 for d in follow if (d or {}).get("satisfied") is True)
    return {
        "generated_at": now.isoformat(),
        "config": config.source,
        "period": {"first_received": min(c.received_at for c in complaints).isoformat() if complaints else None,
                   "last_received": max(c.received_at for c in complaints).isoformat() if complaints else None},
        "rows": quality.as_dict(),
        "accounting": accounted,
        "complaints": {"total": len(complaints),
                       "imported": sum(n for st, n in by_status.items() if st != "rejected"),
                       "rejected": by_status.get("rejected", 0),
                       "by_status": dict(sorted(by_status.items())),
                       "by_severity": dict(sorted(Counter(c.severity for c in complaints).items())),
                       "reopened": sum(1 for c in complaints if c.reopen_count)},
        "tasks": {"total": len(tasks), "by_department": departments,
                  "median_hours_to_complete": {d: v["median_hours_to_complete"] for d, v in departments.items()}},
        "notifications": {"by_kind": dict(sorted(kinds.items())),
                          "reminders": kinds.get(NoticeKind.REMINDER, 0),
                          "escalations_by_level": {str(k): v for k, v in sorted(escalation_levels.items())},
                          "acknowledgement_timeouts": kinds.get(NoticeKind.ACK_TIMEOUT, 0),
                          "promise_breaches": kinds.get(NoticeKind.PROMISE, 0),
                          "messages": sum(outbox.values()),
                          "delivered": outbox.get("delivered", 0),
                          "failed": outbox.get("failed", 0)},
        "sla": {"breaches_by_department": {d: v["sla_breached"] for d, v in departments.items()},
                "compliance_by_department": {d: v["sla_compliance"] for d, v in departments.items()}},
        "deliveries": dict(sorted(outbox.items())),
        "follow_ups": {"created": sum(1 for t in tasks if t.kind == "follow-up"), "recorded": len(follow),
                       "satisfied": satisfied, "not_satisfied": len(follow) - satisfied},
        "improvement_records": improvement_figures(sessions, complaints),
        "series": {"open_complaints_by_day": _open_by_day(complaints, resolved_at),
                   "escalations_by_week": dict(sorted(weekly.items()))},
        "replay_errors": plan.get(-1, {}).get("errors", [])[:50],
    }


def improvement_figures(sessions, complaints) -> dict:
    """Root causes of complaints, improvement records by status, recurrence links and check decisions."""
    with sessions() as s:
        by_status = dict(s.execute(select(Improvement.status, func.count()).group_by(Improvement.status)).all())
        checks = dict(s.execute(select(EffectivenessCheck.decision, func.count())
                                .group_by(EffectivenessCheck.decision)).all())
        links = dict(s.execute(select(ImprovementLink.source, func.count()).group_by(ImprovementLink.source)).all())
    causes = Counter((c.root_cause or "(none yet)").split(".", 1)[0] for c in complaints
                     if c.status not in ("rejected", "merged"))
    return {"by_status": dict(sorted(by_status.items())), "total": sum(by_status.values()),
            "effective": checks.get("effective", 0), "ineffective": checks.get("ineffective", 0),
            "not_enough_data": checks.get("not_enough_data", 0),
            "links_by_source": dict(sorted(links.items())),
            "root_causes": dict(causes.most_common())}


def _week(at: datetime) -> str:
    y, w, _ = at.isocalendar()
    return f"{y}-W{w:02d}"


def _open_by_day(complaints, resolved_at: dict) -> dict[str, int]:
    live = [c for c in complaints if c.status != "rejected"]
    if not live:
        return {}
    start = min(c.received_at for c in live).date()
    last = max([c.received_at for c in live] + list(resolved_at.values())).date()
    start = max(start, last - timedelta(days=399))  # the most recent 400 days (old outliers would flatten it)
    days = (last - start).days + 1
    out = {}
    for i in range(days):
        day_end = datetime.combine(start + timedelta(days=i + 1), datetime.min.time(), tzinfo=live[0].received_at.tzinfo)
        out[(start + timedelta(days=i)).isoformat()] = sum(
            1 for c in live if c.received_at < day_end and (c.id not in resolved_at or resolved_at[c.id] >= day_end))
    return out


def render_html(summaries: dict[str, dict]) -> str:
    """A self-contained HTML report for one or more replayed scenarios."""
    env = Environment(autoescape=select_autoescape(["html"]))
    env.filters["bars"] = _bars
    text = resources.files("closeloop.templates").joinpath("report.html.j2").read_text("utf-8")
    return env.from_string(text).render(summaries=summaries)
