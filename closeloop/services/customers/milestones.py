"""Automatic notices to the customer at milestones (``[customers] milestones``), read from the audit log.

Every status change is an audit row, so the milestones are found there, in one place, whatever
service made the change: a complaint's ``await_customer`` (waiting on you: what is needed, until
when), ``resolve`` (the outcome), ``reopen`` (why), and a task's ``transfer`` (your case is
now with X, because Y). :func:`milestone_notices` runs in every sweep; the outbox key
``customer:<milestone>:<complaint>:<audit row id>`` makes each notice go once. Only changes within
``lookback`` are considered (a sweep that was down longer does not tell customers old news), and only
complaints whose customer has a consented contact point (a few set-based queries per sweep).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.config.customers import Milestone
from closeloop.domain.task import TaskStatus
from models.tables import Complaint, CustomerContact, Outbox, Task, Transition

from .notices import Addressee, NoticeKind, addressees, draft_for, local_time, send

LOOKBACK = timedelta(days=7)
#: complaint triggers that are milestones (the trigger, not the state: a follow-up verdict row keeps the state)
_BY_TRIGGER = {"await_customer": Milestone.WAITING, "resolve": Milestone.RESOLVED, "reopen": Milestone.REOPENED}
#: task kinds whose outcome is not the answer to the customer
_NOT_OUTCOMES = ("follow-up", "root-cause")


def _changes(session: Session, wanted: set[Milestone], now: datetime, lookback: timedelta) -> list:
    t = Transition
    triggers = [s for s, m in _BY_TRIGGER.items() if m in wanted]
    kinds = [and_(t.entity == "complaint", t.trigger.in_(triggers))] if triggers else []
    if Milestone.TRANSFERRED in wanted:
        kinds.append(and_(t.entity == "task", t.trigger == "transfer"))
    if not kinds:
        return []
    reachable = exists(select(CustomerContact.id).where(CustomerContact.customer_id == Complaint.customer_id,
                                                        CustomerContact.consent.is_(True)))
    return session.execute(
        select(t.id, t.complaint_id, t.entity, t.trigger, t.reason, t.data, t.at)
        .join(Complaint, Complaint.id == t.complaint_id)
        .where(t.at > now - lookback, t.at <= now, or_(*kinds), reachable).order_by(t.id)).all()


def _outcome(session: Session, complaint_id: int, reason: str | None) -> str:
    outcomes = [o for (o,) in session.execute(
        select(Task.outcome).where(Task.complaint_id == complaint_id, Task.status == TaskStatus.DONE,
                                   Task.kind.not_in(_NOT_OUTCOMES), Task.outcome.is_not(None)).order_by(Task.id))
                if o and o.strip()]
    return "\n".join(outcomes) or (reason or "")


def _context(session: Session, config: Config, a: Addressee, milestone: Milestone, row) -> dict:
    _, cid, _, _, reason, data, at = row
    data = data or {}
    if milestone is Milestone.TRANSFERRED:
        dep = data.get("to", "")
        names = config.model.customers.department_names.get(a.language, {})
        shown = config.departments[dep].display_name if dep in config.departments else dep
        return {"department": names.get(dep, shown), "reason": reason or ""}
    if milestone is Milestone.WAITING:
        until = None
        if data.get("until"):
            until = datetime.fromisoformat(data["until"])
        elif data.get("max_business_hours"):
            until = config.customer_calendar.add_business_time(at, timedelta(hours=float(data["max_business_hours"])))
        return {"reason": reason or "", "until": local_time(until, a.zone, a.language) if until else None}
    if milestone is Milestone.RESOLVED:
        return {"outcome": _outcome(session, cid, reason)}
    return {"reason": reason or ""}


def milestone_notices(session: Session, config: Config, now: datetime, lookback: timedelta = LOOKBACK) -> int:
    """Queue the milestone notices not sent yet (no commit); returns how many were queued."""
    wanted = set(config.model.customers.milestones) - {Milestone.ACKNOWLEDGED}
    rows = _changes(session, wanted, now, lookback)
    if not rows:
        return 0
    milestone = {r[0]: (Milestone.TRANSFERRED if r[2] == "task" else _BY_TRIGGER[r[3]]) for r in rows}
    keys = {r[0]: f"customer:{milestone[r[0]].value}:{r[1]}:{r[0]}" for r in rows}
    sent = set(session.scalars(select(Outbox.idempotency_key).where(Outbox.idempotency_key.in_(list(keys.values())))))
    todo = [r for r in rows if keys[r[0]] not in sent]
    who = addressees(session, config, sorted({r[1] for r in todo}))
    drafts = [draft_for(who[r[1]], keys[r[0]], r[1], NoticeKind(milestone[r[0]].value),
                        **_context(session, config, who[r[1]], milestone[r[0]], r)) for r in todo if r[1] in who]
    return len(send(session, drafts, now))
