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

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select, text
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.config.customers import Milestone
from closeloop.domain.task import TaskStatus
from closeloop.domain.task_kinds import SystemTaskKind
from closeloop.services.customers.links import Verdict, VerdictLinks
from closeloop.services.customers.notices import Addressee, NoticeKind, addressees, draft_for, local_time, send
from closeloop.services.customers.promises import promise_sweep
from closeloop.settings import Settings
from models.tables import Complaint, CustomerContact, Outbox, Task, Transition
from models.tables.complaints import MILESTONE_WHERE

LOOKBACK = timedelta(days=7)
#: complaint triggers that are milestones (the trigger, not the state: a follow-up verdict row keeps the state)
_BY_TRIGGER = {"await_customer": Milestone.WAITING, "resolve": Milestone.RESOLVED, "reopen": Milestone.REOPENED}
#: task kinds whose outcome is not the answer to the customer
_NOT_OUTCOMES = (SystemTaskKind.FOLLOW_UP, SystemTaskKind.ROOT_CAUSE)


def _changes(session: Session, wanted: set[Milestone], now: datetime, lookback: timedelta) -> Sequence[Any]:
    t = Transition
    kinds = {("complaint", s) for s, m in _BY_TRIGGER.items() if m in wanted}
    if Milestone.TRANSFERRED in wanted:
        kinds.add(("task", "transfer"))
    if not kinds:
        return []
    reachable = exists(select(CustomerContact.id).where(CustomerContact.customer_id == Complaint.customer_id,
                                                        CustomerContact.consent.is_(True)))
    # the term MILESTONE_WHERE lets the partial index ix_transition_milestone serve the time range (a few rows
    # per sweep, not a walk over every complaint and task row of the audit log); the entity of each trigger is
    # told apart here, as a condition on it would lead SQLite to ix_transition_entity instead
    rows = session.execute(
        select(t.id, t.complaint_id, t.entity, t.trigger, t.reason, t.data, t.at)
        .join(Complaint, Complaint.id == t.complaint_id)
        .where(t.at > now - lookback, t.at <= now, text(MILESTONE_WHERE),
               t.trigger.in_(sorted({trigger for _, trigger in kinds})), reachable)
        .order_by(t.id)).all()
    return [r for r in rows if (r.entity, r.trigger) in kinds]


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


def milestone_notices(session: Session, config: Config, now: datetime, lookback: timedelta = LOOKBACK,
                      links: VerdictLinks | None = None) -> int:
    """Queue the milestone notices and follow-up mails not sent yet (no commit); returns how many were queued.

    ``links`` signs the follow-up mail's verdict links (default: from the settings, see :mod:`.links`)."""
    wanted = set(config.model.customers.milestones)
    queued = 0
    if Milestone.FOLLOW_UP in wanted:
        if links is None:

            links = VerdictLinks.from_settings(Settings(), config.model.customers.verdict_link_days)
        queued += follow_up_mails(session, config, now, lookback, links)
    rows = _changes(session, wanted, now, lookback)
    if not rows:
        return queued
    milestone = {r[0]: (Milestone.TRANSFERRED if r[2] == "task" else _BY_TRIGGER[r[3]]) for r in rows}
    keys = {r[0]: f"customer:{milestone[r[0]].value}:{r[1]}:{r[0]}" for r in rows}
    sent = set(session.scalars(select(Outbox.idempotency_key).where(Outbox.idempotency_key.in_(list(keys.values())))))
    todo = [r for r in rows if keys[r[0]] not in sent]
    who = addressees(session, config, sorted({r[1] for r in todo}))
    drafts = [draft_for(who[r[1]], keys[r[0]], r[1], NoticeKind(milestone[r[0]].value),
                        **_context(session, config, who[r[1]], milestone[r[0]], r)) for r in todo if r[1] in who]
    return queued + len(send(session, drafts, now))


def follow_up_mails(session: Session, config: Config, now: datetime, lookback: timedelta, links: VerdictLinks) -> int:
    """Ask the customer of each open follow-up task (created within ``lookback``) whether the problem is
    solved: a mail with two signed, expiring links (:mod:`.links`); key ``customer:follow_up:<task>``."""
    reachable = exists(select(CustomerContact.id).where(CustomerContact.customer_id == Complaint.customer_id,
                                                        CustomerContact.consent.is_(True)))
    rows = session.execute(select(Task.id, Task.complaint_id).join(Complaint, Complaint.id == Task.complaint_id)
                           .where(Task.kind == SystemTaskKind.FOLLOW_UP,
                                  Task.status.in_((TaskStatus.OPEN, TaskStatus.ACKNOWLEDGED)),
                                  Task.created_at > now - lookback, reachable)).all()
    keys = {tid: f"customer:follow_up:{tid}" for tid, _ in rows}
    if not keys:
        return 0
    sent = set(session.scalars(select(Outbox.idempotency_key).where(Outbox.idempotency_key.in_(list(keys.values())))))
    todo = [(tid, cid) for tid, cid in rows if keys[tid] not in sent]
    who = addressees(session, config, sorted({cid for _, cid in todo if cid is not None}))  # inner join: never None
    drafts = []
    for tid, cid in todo:
        if cid not in who:
            continue
        a = who[cid]
        solved, expires = links.url(tid, Verdict.SOLVED, now)
        not_solved, _ = links.url(tid, Verdict.NOT_SOLVED, now)
        drafts.append(draft_for(a, keys[tid], cid, NoticeKind.FOLLOW_UP, solved_url=solved, not_solved_url=not_solved,
                                expires=local_time(expires, a.zone, a.language)))
    return len(send(session, drafts, now))


def customer_sweep(session: Session, config: Config, now: datetime) -> int:
    """The sweep's customer step (no commit): promises reminded and broken (:mod:`.promises`), then the
    milestone notices and follow-up mails; returns the customer messages queued."""

    promise_sweep(session, config, now)
    return milestone_notices(session, config, now)
