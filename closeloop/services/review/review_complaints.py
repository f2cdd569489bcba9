"""Complaint figures of the monthly review: intake, resolution, status at the period's end, verdicts."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from closeloop.domain.complaint import OPEN_STATES, ComplaintStatus
from closeloop.services.review.review_period import Period
from models.tables import Complaint, Transition


def first_resolved():
    """Subquery ``(cid, at)``: each complaint's first resolution (a reopened one counts once, when first resolved)."""
    return (select(Transition.complaint_id.label("cid"), func.min(Transition.at).label("at"))
            .where(Transition.entity == "complaint", Transition.to_state == ComplaintStatus.RESOLVED)
            .group_by(Transition.complaint_id).subquery())


def states_at(s: Session, entity: str, as_of: datetime) -> dict[int, str]:
    """``{id: status}`` of every ``entity`` (``complaint``, ``improvement``) at ``as_of``: its latest
    audited change before that instant (ties at one instant: the later row wins)."""
    last = (select(Transition.entity_id.label("eid"), func.max(Transition.at).label("at"))
            .where(Transition.entity == entity, Transition.at < as_of)
            .group_by(Transition.entity_id).subquery())
    rows = s.execute(select(Transition.entity_id, Transition.to_state)
                     .join(last, and_(Transition.entity_id == last.c.eid, Transition.at == last.c.at))
                     .where(Transition.entity == entity).order_by(Transition.id)).all()
    return {eid: state for eid, state in rows}


def status_at(s: Session, as_of: datetime) -> Counter:
    """How many complaints were in each status at ``as_of``."""
    return Counter(states_at(s, "complaint", as_of).values())


def complaint_figures(s: Session, period: Period, as_of: datetime) -> dict:
    """``{"received", "received_by_severity", "received_by_source", "resolved", "reopened",
    "open_at_end", "status_at_end", "follow_up": {"recorded", "satisfied", "not_satisfied"}}``.

    ``resolved`` counts complaints whose first resolution fell in the period; ``reopened`` the
    reopen transitions in it. ``follow_up`` is the customer's verdict on the handling, recorded
    at the follow-up after resolution (kept apart from the internal effectiveness checks).
    """
    in_period = and_(Complaint.received_at >= period.start, Complaint.received_at < period.end)
    by_sev = dict(s.execute(select(Complaint.severity, func.count()).where(in_period)
                            .group_by(Complaint.severity).order_by(Complaint.severity)).all())
    by_src = dict(s.execute(select(Complaint.source, func.count()).where(in_period)
                            .group_by(Complaint.source).order_by(Complaint.source)).all())
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
        "received_by_severity": {str(k): int(v) for k, v in by_sev.items()},
        "received_by_source": {str(k): int(v) for k, v in by_src.items()},
        "resolved": int(resolved),
        "reopened": int(reopened),
        "open_at_end": sum(n for st, n in at_end.items() if st in OPEN_STATES),
        "status_at_end": dict(sorted(at_end.items())),
        "follow_up": {"recorded": len(verdicts), "satisfied": satisfied, "not_satisfied": len(verdicts) - satisfied},
    }
