"""Complaint figures of the monthly review: intake, resolution, status at the period's end, verdicts."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from closeloop.domain.complaint import OPEN_STATES, ComplaintStatus
from closeloop.services.reads.as_of import states_at, values_at
from closeloop.services.review.review_period import Period
from models.tables import Complaint, Transition


def first_resolved():
    """Subquery ``(cid, at)``: each complaint's first resolution (a reopened one counts once, when first resolved)."""
    return (select(Transition.complaint_id.label("cid"), func.min(Transition.at).label("at"))
            .where(Transition.entity == "complaint", Transition.to_state == ComplaintStatus.RESOLVED)
            .group_by(Transition.complaint_id).subquery())


def status_at(s: Session, as_of: datetime) -> Counter:
    """How many complaints were in each status at ``as_of``."""
    return Counter(states_at(s, "complaint", as_of).values())


def received_by(s: Session, period: Period, as_of: datetime) -> tuple[Counter, Counter]:
    """The complaints received in the period by severity and by source. The severity is the one the complaint had
    at ``as_of`` (a later priority change, audit row ``reprioritize`` with data ``from``/``to``, does not move a
    past month's complaint); the source never changes. Two statements."""
    in_period = and_(Complaint.received_at >= period.start, Complaint.received_at < period.end)
    rows = s.execute(select(Complaint.id, Complaint.severity, Complaint.source).where(in_period)).all()
    severity = values_at(s, "complaint", "reprioritize", ("to", "from"), {cid: sev for cid, sev, _ in rows},
                         select(Complaint.id).where(in_period), as_of)
    return Counter(str(v) for v in severity.values()), Counter(str(src) for _, _, src in rows)


def complaint_figures(s: Session, period: Period, as_of: datetime) -> dict:
    """``{"received", "received_by_severity", "received_by_source", "resolved", "reopened",
    "open_at_end", "status_at_end", "follow_up": {"recorded", "satisfied", "not_satisfied"}}``.

    ``received_by_severity`` takes each complaint's severity at ``as_of`` (:func:`received_by`).
    ``resolved`` counts complaints whose first resolution fell in the period; ``reopened`` the
    reopen transitions in it. ``follow_up`` is the customer's verdict on the handling, recorded
    at the follow-up after resolution (kept apart from the internal effectiveness checks).
    """
    by_sev, by_src = received_by(s, period, as_of)
    first = first_resolved()
    resolved = s.scalar(select(func.count()).select_from(first).where(
        first.c.at >= period.start, first.c.at < period.end)) or 0
    reopened = s.scalar(select(func.count()).select_from(Transition).where(
        Transition.entity == "complaint", Transition.trigger == "reopen",
        Transition.at >= period.start, Transition.at < period.end)) or 0
    verdicts = s.scalars(select(Transition.data).where(
        Transition.trigger == "follow_up", Transition.at >= period.start, Transition.at < period.end)).all()
    satisfied = sum(1 for d in verdicts if (d or {}).get("satisfied") is True)
    at_end = status_at(s, min(period.end, as_of))
    return {
        "received": sum(by_sev.values()),
        "received_by_severity": dict(sorted(by_sev.items())),
        "received_by_source": dict(sorted(by_src.items())),
        "resolved": int(resolved),
        "reopened": int(reopened),
        "open_at_end": sum(n for st, n in at_end.items() if st in OPEN_STATES),
        "status_at_end": dict(sorted(at_end.items())),
        "follow_up": {"recorded": len(verdicts), "satisfied": satisfied, "not_satisfied": len(verdicts) - satisfied},
    }
