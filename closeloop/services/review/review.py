"""The monthly cross-department review (ISO 10002 analysis of complaints; CAPA follow-through).

:func:`build_review` returns plain JSON-able figures for one month; :func:`render` turns them
into Markdown or a self-contained HTML page with inline SVG charts. The same figures feed
``closeloop report review`` and the scheduled review flow (a Prefect artifact).

Shape of the result (every count an int, every instant ISO 8601 UTC)::

    {"period": {"label", "zone", "start", "end", "as_of", "complete"},
     "complaints": {...},                 # review_complaints.complaint_figures
     "root_causes": {...},                # review_loop.root_cause_pareto
     "recurrence": {...},                 # review_loop.recurrence
     "improvement_records": {...},        # review_loop.improvement_records
     "departments": {name: {...}},        # review_sla.department_sla (department work, follow-ups apart)
     "follow_up_tasks": {name: {...}},    # review_sla.follow_up_sla (customer follow-up tasks, same figures)
     "improvement_actions": {name: {...}},  # review_sla.improvement_action_sla (improvement records' actions)
     "bounced": [...],                    # review_sla.bounced_complaints
     "compensation": {...},               # review_loop.compensation
     "promises": {dept: {"made", "kept", "kept_late", "broken", "open", "cancelled"}}}
                                          # customers.promises.promise_figures (promises due in the month)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, select_autoescape
from sqlalchemy import select

from closeloop.config import Config
from closeloop.domain.errors import InvalidInput
from closeloop.services import report_format
from closeloop.services.customers.promises import promise_figures
from closeloop.services.markdown import md_inline
from closeloop.services.reads.metrics import DEFINITIONS, worst_first
from closeloop.services.replay import charts
from closeloop.services.review.review_complaints import complaint_figures
from closeloop.services.review.review_loop import (
    RECURRENCE_RATE,
    compensation,
    improvement_records,
    recurrence,
    root_cause_pareto,
)
from closeloop.services.review.review_period import month
from closeloop.services.review.review_sla import (
    bounced_complaints,
    department_sla,
    follow_up_sla,
    improvement_action_sla,
)
from closeloop.services.uow import unit_of_work
from models.db import make_engine, make_sessions
from models.tables import Complaint

FORMATS = ("md", "html", "json")


def build_review(sessions, config: Config, period: str, now: datetime) -> dict:
    """Figures of the month ``period`` (``YYYY-MM``, cut at midnight in the customer calendar's zone).

    Every figure is read as recorded by the period's end (:mod:`closeloop.services.reads.as_of`: statuses, root
    causes, severities, merges from the audit log), or by ``now`` (UTC-aware) for the running month (``complete``
    false); only the configuration (targets, calendars) is the current one. Raises :class:`InvalidInput`
    (field ``period``) for a malformed month or one that has not started yet.
    """
    p = month(period, str(config.customer_calendar.zone))
    if p.start > now:
        raise InvalidInput("period", f"{p.label} has not started yet (now is {now.isoformat()})")
    as_of = min(p.end, now)
    with unit_of_work(sessions) as s:
        actions = improvement_action_sla(s, config, p, as_of)
        overdue = [t for d in actions.values() for t in d["overdue_tasks"]]
        return {
            "period": {"label": p.label, "zone": p.zone, "start": p.start.isoformat(), "end": p.end.isoformat(),
                       "as_of": as_of.isoformat(), "complete": now >= p.end},
            "complaints": complaint_figures(s, p, as_of),
            "root_causes": root_cause_pareto(s, p, as_of),
            "recurrence": recurrence(s, p, as_of),
            "improvement_records": improvement_records(s, p, as_of, overdue),
            "departments": department_sla(s, config, p, as_of),
            "follow_up_tasks": follow_up_sla(s, config, p, as_of),
            "improvement_actions": actions,
            "bounced": bounced_complaints(s, p, config.model.escalation.transfer_limit),
            "compensation": compensation(s, p, as_of),
            "promises": promise_figures(s, p.start, p.end, as_of),
        }


def busiest_month(sessions, zone: str) -> str | None:
    """The month (``YYYY-MM`` in ``zone``) in which most complaints were received; None without any."""
    tz = ZoneInfo(zone)
    with sessions() as s:
        months = Counter(at.astimezone(tz).strftime("%Y-%m") for at in s.scalars(select(Complaint.received_at)))
    return max(sorted(months), key=lambda m: months[m]) if months else None


def review_of_file(db_path: Path, config: Config, as_of: datetime) -> tuple[str, dict] | None:
    """The review of the busiest month of the SQLite database at ``db_path`` (a replay's ``replay.db``) as of
    ``as_of`` (aware UTC): ``(label, review)``, or None when it holds no complaint. Opens and disposes its own
    engine."""
    engine = make_engine(f"sqlite:///{db_path}")
    try:
        sessions = make_sessions(engine)
        label = busiest_month(sessions, str(config.customer_calendar.zone))
        return None if label is None else (label, build_review(sessions, config, label, as_of))
    finally:
        engine.dispose()


def render(review: dict, fmt: str, *, root_causes: Mapping[str, str] | None = None) -> str:
    """``md`` or ``html`` text of a review built by :func:`build_review` (``json`` is the caller's dump), in the
    same words in both (keys in words, instants in the month's zone). ``root_causes``: the configuration's
    root-cause display names (code -> name, ``config.model.improvement.root_causes``, as the dashboard shows
    them); None: the codes in words. Markdown escapes each value only where it would be markup
    (:func:`~closeloop.services.markdown.md_inline`).

    Raises :class:`InvalidInput` (field ``format``) for any other format.
    """
    if fmt not in ("md", "html"):
        raise InvalidInput("format", f"expected one of {', '.join(FORMATS)}, got {fmt!r}")
    finalize = md_inline if fmt == "md" else None  # every value escaped for Markdown (services/markdown.py)
    env = Environment(autoescape=select_autoescape(["html"]) if fmt == "html" else False,
                      trim_blocks=True, lstrip_blocks=True, finalize=finalize)
    env.filters["pct"] = lambda v: "no data" if v is None else f"{v * 100:.0f}%"
    report_format.register(env, root_causes)
    text = resources.files("closeloop.templates").joinpath(f"review.{fmt}.j2").read_text("utf-8")
    return env.from_string(text).render(r=review, charts=review_charts(review, root_causes) if fmt == "html" else {},
                                        departments=worst_first(review["departments"], "compliance"),
                                        definitions={m.value: t for m, t in DEFINITIONS.items()},
                                        recurrence_definition=RECURRENCE_RATE)


def review_charts(review: dict, root_causes: Mapping[str, str] | None = None) -> dict:
    """The review's charts: root-cause Pareto (``root_causes``: display names, as :func:`render`), recurrences
    per month, resolved within target per department."""
    return {
        "pareto": charts.pareto({report_format.cause(c["root_cause"], root_causes): c["count"]
                                 for c in review["root_causes"]["causes"]},
                                y_title="complaints resolved"),
        "recurrence": charts.month_line({t["period"]: t["recurrences"] for t in review["recurrence"]["trend"]},
                                        y_title="recurrences (complaints)"),
        "compliance": charts.category_bars(
            {d: v["compliance"] for d, v in worst_first(review["departments"], "compliance").items()},
            y_title="% of tasks resolved", x_title="department (worst first)", percent=True,
            label="resolved within target by department"),
    }
