"""Figures of a replay (or of any database): what happened, per department, per week.

:func:`build_summary` returns plain JSON-able data; :func:`render_html` turns it
into a self-contained ``report.html`` with inline SVG charts (no network, no JS).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

from jinja2 import Environment, select_autoescape
from markupsafe import Markup
from sqlalchemy import func, select

from closeloop.config import Config
from closeloop.domain.complaint import OPEN_STATES, ComplaintStatus
from closeloop.domain.improvement import ImprovementStatus
from closeloop.domain.notices import NoticeKind
from closeloop.domain.outbox import OutboxStatus
from closeloop.domain.promise import PromiseStatus
from closeloop.domain.task import ACTIVE_STATES, TaskStatus
from closeloop.domain.task_kinds import SystemTaskKind
from closeloop.services import report_format
from closeloop.services.capa import root_cause
from closeloop.services.customers.notices import NoticeKind as CustomerNotice
from closeloop.services.engine.clocks import complaint_clocks, task_clocks
from closeloop.services.engine.ledger import History
from closeloop.services.reads.metrics import DEFINITIONS, Metric, share, worst_first
from closeloop.services.replay import charts
from models.tables import (
    Complaint,
    EffectivenessCheck,
    Improvement,
    ImprovementLink,
    Notification,
    Outbox,
    Promise,
    Task,
    Transition,
)

FOLLOW_UP = SystemTaskKind.FOLLOW_UP  # the task kind of the customer follow-up (lifecycle)
#: the sources whose export says something of the customer's verdict (CFPB: whether the consumer disputed the
#: answer); for every other source the replay models each follow-up verdict as "satisfied" (replay.py)
VERDICT_SOURCES = frozenset({"cfpb"})
#: the sources whose exports record when the department acknowledged a complaint (CFPB: ``Date sent to company``);
#: the acknowledgement timeouts of every other source's tasks only say that the data has no such instant
ACK_SOURCES = frozenset({"cfpb"})
SOURCE_NAMES = {"cfpb": "CFPB", "nyc311": "NYC 311"}  # as the reports name a source (else its id)
#: what an export without an acknowledgement records of a task's progress instead (a source not here: nothing said)
PROGRESS_RECORDED = {"nyc311": "only when a request was closed"}
#: what the reports call a ``promise`` notification: the complaint's resolution due date (the customer promise of
#: its resolve clock) breached; never one of the tracked promises to the customer (``customers.promises``)
RESOLUTION_BREACH = "resolution promise breach"
#: notification kinds as the report's table heads them (else the kind itself)
KIND_LABELS = {NoticeKind.PROMISE.value: "resolution promise breach"}


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 4) if values else None


def build_summary(sessions, config: Config, now: datetime, quality, plan: dict) -> dict:
    with sessions() as s:
        complaints = s.scalars(select(Complaint)).all()
        tasks = s.scalars(select(Task)).all()
        done_at = dict(s.execute(select(Transition.entity_id, func.max(Transition.at)).where(
            Transition.entity == "task", Transition.to_state == TaskStatus.DONE).group_by(Transition.entity_id)).all())
        resolved_at = dict(s.execute(select(Transition.entity_id, func.min(Transition.at)).where(
            Transition.entity == "complaint", Transition.to_state == ComplaintStatus.RESOLVED)
            .group_by(Transition.entity_id)).all())
        notes = s.scalars(select(Notification)).all()
        outbox = dict(s.execute(select(Outbox.status, func.count()).group_by(Outbox.status)).all())
        follow = s.execute(select(Transition.data).where(Transition.trigger == "follow_up")).scalars().all()
        work = [t for t in tasks if t.kind != FOLLOW_UP and t.complaint_id is not None]  # not improvement actions
        departments = worst_first(_department_figures(s, config, now, work, done_at))
        follow_up_departments = _department_figures(s, config, now, [t for t in tasks if t.kind == FOLLOW_UP],
                                                    done_at)
        customers = _customer_figures(s)
        promise = _resolution_promise(s, config, now, complaints)
    by_status = Counter(c.status for c in complaints)
    return {
        "generated_at": now.isoformat(),
        "config": shown_path(config.source),
        "config_sha256": config.version_hash[:12],
        "period": {"first_received": min(c.received_at for c in complaints).isoformat() if complaints else None,
                   "last_received": max(c.received_at for c in complaints).isoformat() if complaints else None},
        "rows": quality.as_dict(),
        "accounting": _accounting(quality, by_status),
        "complaints": {**_complaint_figures(complaints, by_status), "resolution_promise": promise},
        "tasks": {"total": len(tasks), "by_department": departments, "order": "worst first",
                  "median_hours_to_complete": {d: v["median_hours_to_complete"] for d, v in departments.items()}},
        "notifications": _notification_figures(notes, outbox, plan),
        "sla": {"definitions": {m.value: text for m, text in DEFINITIONS.items()},
                "breached_so_far_by_department": {d: v["breached_so_far_count"] for d, v in departments.items()},
                "resolved_within_target_by_department": {d: v[Metric.RESOLVED_WITHIN_TARGET.value]
                                                         for d, v in departments.items()}},
        "deliveries": dict(sorted(outbox.items())),
        "follow_ups": _follow_up_figures(tasks, follow, follow_up_departments, plan),
        "customers": customers,
        "improvement_records": improvement_figures(sessions, complaints),
        "caveats": _caveats(quality, plan),
        "series": {"open_complaints_by_day": _open_by_day(complaints, resolved_at),
                   "notifications_by_week": _weekly(notes)},
        "replay_errors": plan.get(-1, {}).get("errors", [])[:50],
    }


def _accounting(quality, by_status: Counter) -> dict:
    """Every row of the export in exactly one bucket (``all_rows_accounted_for`` checks the sum)."""
    accounted = {
        "rows": quality.rows,
        "complaints_resolved_or_closed": by_status.get("resolved", 0) + by_status.get("closed", 0),
        "complaints_open": sum(n for st, n in by_status.items() if st in OPEN_STATES),
        "complaints_merged": by_status.get("merged", 0),
        "rejected_not_complaints": by_status.get("rejected", 0),
        "duplicates": quality.duplicates,
        "bad_rows": quality.bad_rows,
    }
    accounted["all_rows_accounted_for"] = quality.rows == sum(v for k, v in accounted.items() if k != "rows")
    return accounted


def _complaint_figures(complaints, by_status: Counter) -> dict:
    """Complaints received (rows taken in as complaints) apart from the rejected non-complaints, which
    are in no complaint figure (severity, status, reopened)."""
    received = [c for c in complaints if c.status != ComplaintStatus.REJECTED]
    return {"received": len(received),
            "rejected_not_complaints": by_status.get("rejected", 0),
            "by_status": dict(sorted((k, v) for k, v in by_status.items() if k != "rejected")),
            "by_severity": dict(sorted(Counter(c.severity for c in received).items())),
            "reopened": sum(1 for c in received if c.reopen_count)}


def _notification_figures(notes, outbox: dict, plan: dict) -> dict:
    """The notifications by kind. Acknowledgement timeouts of complaints whose source records no acknowledgement
    (not in :data:`ACK_SOURCES`: the replay never acknowledges their tasks) are in no headline figure (not in
    ``by_kind``, ``acknowledgement_timeouts``), only in ``acknowledgement_timeouts_not_modelled``."""
    unmodelled = [n for n in notes if n.kind == NoticeKind.ACK_TIMEOUT
                  and plan.get(n.complaint_id, {}).get("source") not in ACK_SOURCES]
    skip = {id(n) for n in unmodelled}
    kinds = Counter(n.kind for n in notes if id(n) not in skip)
    levels = Counter(n.level for n in notes if n.kind == NoticeKind.ESCALATION)
    return {"by_kind": dict(sorted(kinds.items())),
            "reminders": kinds.get(NoticeKind.REMINDER, 0),
            "escalations": kinds.get(NoticeKind.ESCALATION, 0),
            "escalations_by_level": {str(k): v for k, v in sorted(levels.items())},
            "escalation_level_roles": {"1": "assignee", "2": "department lead", "3": "operations manager",
                                       "4": "crisis owner"},
            "acknowledgement_timeouts": kinds.get(NoticeKind.ACK_TIMEOUT, 0),
            "acknowledgement_timeouts_not_modelled": len(unmodelled),
            "resolution_promise_breach_notices": kinds.get(NoticeKind.PROMISE, 0),
            "complaints_with_resolution_promise_breach_notice": len({n.complaint_id for n in notes
                                                                     if n.kind == NoticeKind.PROMISE}),
            "messages": sum(outbox.values()),
            "delivered": outbox.get("delivered", 0),
            "failed": outbox.get("dead", 0)}


def _resolution_promise(s, config: Config, now: datetime, complaints) -> dict:
    """The complaint's own promise to the customer, its resolution due date (the complaint's resolve clock on the
    customer calendar, severity target), at ``now``: of the complaints received (rejected and merged left out)
    ``with_target``, ``met`` (resolved by it), ``breached`` (resolved late, or open past it), ``not_due_yet``
    (open, not past it: neither met nor breached) and ``no_target``. Not the tracked promises (``customers``)."""
    mine = [c for c in complaints if c.status not in (ComplaintStatus.REJECTED, ComplaintStatus.MERGED)]
    history = History.load(s, {c.id for c in mine})
    out = Counter({"with_target": 0, "met": 0, "breached": 0, "not_due_yet": 0, "no_target": 0})
    for c in mine:
        clock = next(v.clock for v in complaint_clocks(s, c, config, now, with_update=False, history=history)
                     if v.clock.name == "resolve")
        if clock.target is None:
            out["no_target"] += 1
            continue
        out["with_target"] += 1
        out["breached" if clock.breached else "met" if clock.stopped_at is not None else "not_due_yet"] += 1
    return dict(out)


def _customer_figures(s) -> dict:
    """What the customers were told and promised (issue 13): messages to customers by kind (outbox keys
    ``customer:<kind>:...``; ``updates`` are the milestone notices, replies are the agents'), how many were
    delivered, and promises by outcome (``kept_late``: kept after being broken; ``broken``: still broken)."""
    sent: Counter = Counter()
    delivered = 0
    for key, status in s.execute(select(Outbox.idempotency_key, Outbox.status)
                                 .where(Outbox.idempotency_key.like("customer:%"))):
        sent[key.split(":", 2)[1]] += 1
        delivered += status == OutboxStatus.DELIVERED
    promises = Counter(st for st, in s.execute(select(Promise.status)))
    kept_late = s.scalar(select(func.count()).select_from(Promise).where(
        Promise.status == PromiseStatus.KEPT, Promise.broken_at.is_not(None))) or 0
    updates = {k.value: sent.get(k.value, 0) for k in CustomerNotice
               if k not in (CustomerNotice.ACKNOWLEDGED, CustomerNotice.REPLY)}
    return {"acknowledgements": sent.get(CustomerNotice.ACKNOWLEDGED.value, 0), "updates": updates,
            "updates_total": sum(updates.values()), "replies": sent.get(CustomerNotice.REPLY.value, 0),
            "messages": sum(sent.values()), "delivered": delivered,
            "promises": {"made": sum(promises.values()), "kept": promises.get(PromiseStatus.KEPT, 0),
                         "kept_late": kept_late, "broken": promises.get(PromiseStatus.BROKEN, 0),
                         "open": promises.get(PromiseStatus.OPEN, 0),
                         "cancelled": promises.get(PromiseStatus.CANCELLED, 0)}}


def _follow_up_figures(tasks, follow: list, departments: dict, plan: dict) -> dict:
    """Customer follow-up tasks (contacting the customer after resolution), apart from department work.

    ``satisfied_label`` says what "satisfied" means for the sources replayed: a CFPB export records a
    dispute, not satisfaction, so there it reads "no dispute recorded"; a source whose export records no
    verdict at all (NYC 311, every source but CFPB) has its verdicts modelled: "satisfied (modelled)"; a
    summary of no replay (``plan`` empty) counts the customers' own verdicts: "satisfied".
    """
    satisfied = sum(1 for d in follow if (d or {}).get("satisfied") is True)
    first = [d for d in follow if (d or {}).get("first_verdict", True)]  # rows before the flag count as first
    first_satisfied = sum(1 for d in first if d.get("satisfied") is True)
    sources = _sources(plan)
    label = ("satisfied" if not sources  # not a replay: the customers' own verdicts
             else "no dispute recorded" if sources <= VERDICT_SOURCES
             else "satisfied (modelled)" if not sources & VERDICT_SOURCES
             else "satisfied (modelled) or no dispute recorded")
    return {"created": sum(1 for t in tasks if t.kind == FOLLOW_UP), "recorded": len(follow),
            "satisfied": satisfied, "not_satisfied": len(follow) - satisfied, "satisfied_label": label,
            "first_verdicts": {"complaints": len(first), "satisfied": first_satisfied,
                               "not_satisfied": len(first) - first_satisfied},
            "by_department": departments}


def _sources(plan: dict) -> set[str]:
    """The sources of the complaints replayed (``plan``: the replay's complaint id -> behaviour facts)."""
    return {v.get("source") for k, v in plan.items() if k != -1}


def _caveats(quality, plan: dict) -> list[dict]:
    """Data-quality notes, each ``{"about": figure it affects, "text"}``."""
    out = []
    if quality.in_progress:
        out.append({"about": "departments", "text": f"{_n(quality.in_progress, 'complaint')} "
                    f"{_be(quality.in_progress)} still \"In progress\" in the export: no answer is modelled for "
                    "them, so their tasks stay open and count as breached once past due."})
    if quality.no_close_date:
        n = quality.no_close_date
        out.append({"about": "departments", "text": f"{_n(n, 'request')} {'has' if n == 1 else 'have'} no close "
                    f"date in the export: {'its task stays' if n == 1 else 'their tasks stay'} open."})
    if quality.closed_before_created:
        n = quality.closed_before_created
        out.append({"about": "departments", "text": f"{_n(n, 'request')} {'was' if n == 1 else 'were'} closed "
                    "before {} created: left open.".format("it was" if n == 1 else "they were")})
    return out + _ack_caveats(_sources(plan)) + _verdict_caveats(_sources(plan))


def _ack_caveats(sources: set[str]) -> list[dict]:
    """The sources whose exports record no acknowledgement: their tasks are never acknowledged in the replay."""
    ids = sorted((s for s in sources - ACK_SOURCES if s), key=lambda s: SOURCE_NAMES.get(s, s))
    if not ids:
        return []
    silent, many = [SOURCE_NAMES.get(s, s) for s in ids], len(ids) > 1
    facts = [(SOURCE_NAMES.get(s, s), PROGRESS_RECORDED[s]) for s in ids if s in PROGRESS_RECORDED]
    recorded = f" ({'; '.join(f'{name}: {fact}' if many else fact for name, fact in facts)})" if facts else ""
    return [{"about": "notifications", "text": f"The {' and '.join(silent)} export{'s' if many else ''} "
             f"record{'' if many else 's'} no acknowledgement or start of work{recorded}: "
             "the replay acknowledges none of these tasks, so the acknowledgement timeouts they raise say nothing "
             "about the departments and are left out of the notification figures (counted apart as not modelled)."}]


def _verdict_caveats(sources: set[str]) -> list[dict]:
    """What the follow-up verdicts of ``sources`` are worth: a CFPB dispute is not satisfaction; every other
    source's verdicts are modelled (all "satisfied"), so their figures say nothing about the customers."""
    out = []
    if "cfpb" in sources:
        out.append({"about": "follow_ups", "text": "The CFPB export records whether the consumer disputed "
                    "the answer, not whether they were satisfied: \"no dispute recorded\" is not satisfaction."})
    modelled = sorted(SOURCE_NAMES.get(s, s) for s in sources - VERDICT_SOURCES)
    if modelled:
        many = len(modelled) > 1
        out.append({"about": "follow_ups", "text": f"The {' and '.join(modelled)} export{'s' if many else ''} "
                    f"record{'' if many else 's'} no customer verdict: every follow-up verdict of "
                    f"{'their' if many else 'its'} complaints is modelled as \"satisfied\" in this replay (none "
                    "can be \"not satisfied\"), so these figures say nothing about how the customers felt."})
    return out


def shown_path(source: str) -> str:
    """A configuration's path as a report shows it: relative to the working directory when inside it,
    else the file name alone (a shared report names no home directory); ``<...>`` sources unchanged."""
    if source.startswith("<"):
        return source
    path = Path(source)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.name


def _n(count: int, noun: str) -> str:
    """``"1 request"``, ``"2 requests"``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _be(count: int) -> str:
    return "is" if count == 1 else "are"


def _weekly(notes) -> dict[str, dict[str, int]]:
    """``{"escalation": {Monday ISO date: n}, "resolution promise breach": {...}}``: escalations and the notices of
    a breached resolution due date apart, per ISO week (keyed by its Monday, UTC)."""
    out: dict[str, Counter] = {"escalation": Counter(), RESOLUTION_BREACH: Counter()}
    for n in notes:
        kind = {NoticeKind.ESCALATION: "escalation", NoticeKind.PROMISE: RESOLUTION_BREACH}.get(n.kind)
        if kind:
            day = n.fired_at.astimezone(UTC).date()
            out[kind][(day - timedelta(days=day.weekday())).isoformat()] += 1
    return {k: dict(sorted(v.items())) for k, v in out.items() if v}


def _department_figures(s, config: Config, now: datetime, tasks: list, done_at: dict) -> dict[str, dict]:
    """Per department: ``{"tasks", "completed", "open", "median_hours_to_complete" (calendar hours),
    "median_business_hours_to_complete" (the department's calendar), "resolved", "resolved_met",
    "resolved_within_target", "sla_tasks", "breached_so_far_count", "breached_so_far"}`` (see
    :mod:`closeloop.services.reads.metrics` for the two shares)."""
    out: dict[str, dict] = {}
    history = History.load(s, {t.complaint_id for t in tasks if t.complaint_id is not None})  # one read for all
    for dep in sorted({t.department for t in tasks}):
        dep_tasks = [t for t in tasks if t.department == dep]
        cal = config.department_calendar(dep)
        hours, business = [], []
        breached = with_target = resolved = met = 0
        for t in dep_tasks:
            if t.id in done_at:
                hours.append((done_at[t.id] - t.created_at).total_seconds() / 3600)
                business.append(cal.business_time_between(t.created_at, done_at[t.id]).total_seconds() / 3600)
            if t.status in (TaskStatus.TRANSFERRED, TaskStatus.CANCELLED):
                continue
            clock = next(v.clock for v in task_clocks(s, t, config, now, with_update=False, history=history)
                         if v.clock.name == "resolve")
            if clock.target is None:
                continue
            with_target += 1
            breached += bool(clock.breached)
            if clock.stopped_at is not None:
                resolved += 1
                met += not clock.breached
        out[dep] = {
            "tasks": len(dep_tasks),
            "completed": sum(1 for t in dep_tasks if t.status == TaskStatus.DONE),
            "open": sum(1 for t in dep_tasks if t.status in ACTIVE_STATES),
            "median_hours_to_complete": _median(hours),
            "median_business_hours_to_complete": _median(business),
            "resolved": resolved, "resolved_met": met, Metric.RESOLVED_WITHIN_TARGET.value: share(met, resolved),
            "sla_tasks": with_target, "breached_so_far_count": breached,
            Metric.BREACHED_SO_FAR.value: share(breached, with_target),
        }
    return out


def improvement_figures(sessions, complaints) -> dict:
    """Root causes of complaints, improvement records by status, recurrence links and check decisions.

    ``checks``: every effectiveness check with its before/after counts, the engine's ``decision`` and
    ``data_covers_window`` (False when the export's last complaint was received before the check's
    after-window ended, so "fewer complaints after" may only mean "no more data"). ``verdict`` is the
    decision, except an "effective" one on data that does not cover its window: "not_enough_data". An
    "ineffective" one stands on such data (the complaints missing after the export's end could only add to
    the after count, so the reduction the rule asks for is ruled out already) and the engine acted on it (the
    record went back to ``in_progress``), so the totals ``effective``/``ineffective``/``not_enough_data``
    count the verdicts and agree with the records' statuses.
    """
    with sessions() as s:
        by_status = dict(s.execute(select(Improvement.status, func.count()).group_by(Improvement.status)).all())
        links = dict(s.execute(select(ImprovementLink.source, func.count()).group_by(ImprovementLink.source)).all())
        decided = s.execute(select(EffectivenessCheck, Improvement.title, Improvement.root_cause).join(
            Improvement, Improvement.id == EffectivenessCheck.improvement_id).order_by(EffectivenessCheck.at)).all()
        awaiting = s.scalar(select(func.count()).select_from(Improvement).where(
            Improvement.status.in_((ImprovementStatus.APPROVED, ImprovementStatus.IN_PROGRESS,
                                      ImprovementStatus.IMPLEMENTED)))) or 0
    live = [c for c in complaints if c.status not in (ComplaintStatus.REJECTED, ComplaintStatus.MERGED)]
    data_end = max((c.received_at for c in live), default=None)
    causes = Counter((c.root_cause or "(none yet)").split(".", 1)[0] for c in live)
    checks = [_check_row(c, title, cause, data_end) for c, title, cause in decided]
    verdicts = Counter(c["verdict"] for c in checks)
    return {"by_status": dict(sorted(by_status.items())), "total": sum(by_status.values()),
            "effective": verdicts.get("effective", 0), "ineffective": verdicts.get("ineffective", 0),
            "not_enough_data": sum(n for v, n in verdicts.items() if v not in ("effective", "ineffective")),
            "awaiting_check": awaiting,
            "links_by_source": dict(sorted(links.items())),
            "root_causes": dict(causes.most_common()),
            "unmapped_sources": sorted({c.source for c in live} - root_cause.MAPPED_SOURCES),
            "mapped_complaints": sum(1 for c in live if c.source in root_cause.MAPPED_SOURCES),
            "data_ends": data_end.isoformat() if data_end else None,
            "checks": checks}


def _check_row(c: EffectivenessCheck, title: str, cause: str | None, data_end: datetime | None) -> dict:
    window_end = c.implemented_at + timedelta(days=c.window_days)
    covered = data_end is not None and data_end >= window_end
    # data missing after the export's end could only add complaints after the fix: it can turn an "effective"
    # decision around ("no more complaints" may only mean "no more data"), never an "ineffective" one
    verdict = "not_enough_data" if c.decision == "effective" and not covered else c.decision
    return {"improvement": c.improvement_id, "title": title, "at": c.at.isoformat(), "attempt": c.attempt,
            "window_days": c.window_days, "before_count": c.before_count, "after_count": c.after_count,
            "reduction": c.reduction, "decision": c.decision, "data_covers_window": covered,
            "verdict": verdict, "note": _check_note(c, cause, covered, data_end, window_end)}


def _check_note(c: EffectivenessCheck, cause: str | None, covered: bool, data_end: datetime | None,
                window_end: datetime) -> str | None:
    """Why a check's verdict says little: no complaint counted before the fix (its facts and root cause ``cause``
    matched none), or data that ends before its after-window does (None when neither)."""
    if c.before_count == 0:
        which = f"with root cause {cause} or none yet, " if cause else ""
        return (f"no complaint matching the record ({which}same facts) in the {c.window_days:g} days before the "
                "fix: nothing to compare")
    if covered:
        return None
    if data_end is None:
        return "no data"
    ends = f"the export ends {data_end:%Y-%m-%d}, before the after-window ends ({window_end:%Y-%m-%d})"
    if c.decision != "ineffective":
        return f"not enough data: {ends}"
    needed = (c.rule or {}).get("min_reduction")
    asked = f"a {needed:.0%} reduction" if isinstance(needed, int | float) else "the reduction the rule asks"
    return (f"{ends}, but the {c.after_count} complaints it has after the fix already rule out {asked}: "
            "more data could only add to them")


def _open_by_day(complaints, resolved_at: dict) -> dict[str, int]:
    live = [c for c in complaints if c.status != ComplaintStatus.REJECTED]
    if not live:
        return {}
    start = min(c.received_at for c in live).date()
    last = max([c.received_at for c in live] + list(resolved_at.values())).date()
    start = max(start, last - timedelta(days=399))  # the most recent 400 days (old outliers would flatten it)
    days = (last - start).days + 1
    out = {}
    for i in range(days):
        day_end = datetime.combine(start + timedelta(days=i + 1), datetime.min.time(),
                                   tzinfo=live[0].received_at.tzinfo)
        out[(start + timedelta(days=i)).isoformat()] = sum(
            1 for c in live if c.received_at < day_end and (c.id not in resolved_at or resolved_at[c.id] >= day_end))
    return out


def scenario_charts(summary: dict, root_causes: Mapping[str, str] | None = None) -> dict[str, Markup]:
    """The charts of one scenario's summary (see :mod:`closeloop.services.replay.charts`); ``root_causes``:
    the root causes' display names (code -> name; None: the codes in words)."""
    deps = summary["tasks"]["by_department"]
    roles = summary["notifications"].get("escalation_level_roles", {})
    return {
        "compliance": charts.category_bars({d: v[Metric.RESOLVED_WITHIN_TARGET.value] for d, v in deps.items()},
                                           y_title="% of tasks resolved", x_title="department (worst first)",
                                           percent=True, label="resolved within target by department"),
        "open": charts.time_bars(summary["series"]["open_complaints_by_day"], period="day",
                                 y_title="open complaints (end of day)", x_title="day (UTC)"),
        "weekly": charts.time_bars(summary["series"]["notifications_by_week"], period="week", by="kind",
                                   y_title="notifications", x_title="week starting Monday (UTC)"),
        "levels": charts.category_bars({f"L{k} {roles.get(k, '')}": v for k, v in
                                        summary["notifications"]["escalations_by_level"].items()},
                                       y_title="escalations", x_title="ladder level (recipient)"),
        "pareto": charts.pareto({report_format.cause(k, root_causes): v
                                 for k, v in summary["improvement_records"]["root_causes"].items()}),
    }


def render_html(summaries: dict[str, dict], *, root_causes: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """A self-contained HTML report for one or more replayed scenarios (static SVG charts, no script).
    ``root_causes``: per scenario name, its configuration's root-cause display names (code -> name, as the
    dashboard shows them); a scenario without: the codes in words."""
    env = Environment(autoescape=select_autoescape(["html"]))
    env.filters["pct"] = lambda v: "no data" if v is None else f"{v * 100:.0f}%"
    env.filters["num"] = lambda v, f="%.1f": "no data" if v is None else f % v
    report_format.register(env)
    names = root_causes or {}
    env.filters["cause_of"] = lambda code, scenario: report_format.cause(code, names.get(scenario))
    env.tests["count"] = lambda v: isinstance(v, int | float) and not isinstance(v, bool)  # right-aligned
    text = resources.files("closeloop.templates").joinpath("report.html.j2").read_text("utf-8")
    return env.from_string(text).render(summaries=summaries,
                                        charts={k: scenario_charts(v, names.get(k)) for k, v in summaries.items()},
                                        definitions={m.value: t for m, t in DEFINITIONS.items()},
                                        kind_labels=KIND_LABELS)
