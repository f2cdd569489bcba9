"""Automatic notices to the customer at milestones (``[customers] milestones``), read from the audit log.

Every status change is an audit row, so the milestones are found there, in one place, whatever
service made the change: a complaint's ``await_customer`` (waiting on you: what is needed, until
when), ``resolve`` (the outcome), ``reopen`` (why), and a task's ``transfer`` (your case is
now with X, because Y). :func:`milestone_notices` runs in every sweep; the outbox key
``customer:<milestone>:<complaint>:<audit row id>`` makes each notice go once. Only changes within
``lookback`` are considered (a sweep that was down longer does not tell customers old news), and only
complaints whose customer has a consented contact point (a few set-based queries per sweep). A stored reason
reaches the customer in their language (:func:`_reason`): a person's as written, the engine's own translated
or, for the causes a customer is told of (the departments finished, their message came in, they said it is
not solved), in customer words of the template rather than the audit sentence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select, text
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.config.customers import Milestone
from closeloop.domain.complaint import OPEN_STATES, WAIT_EXPIRED, ComplaintStatus, wait_end
from closeloop.domain.notices import TASK_GONE, DropReason, NotificationStatus, Role
from closeloop.domain.notices import NoticeKind as DomainNotice
from closeloop.domain.reasons import EngineReason, reason_data, stored_reason
from closeloop.domain.reasons_i18n import translate_reason
from closeloop.domain.task import ACTIVE_STATES, TaskStatus
from closeloop.domain.task_kinds import SystemTaskKind
from closeloop.services.bulk import insert_new
from closeloop.services.customers.links import Verdict, VerdictLinks
from closeloop.services.customers.notices import Addressee, NoticeKind, addressees, draft_for, local_time, send
from closeloop.services.customers.promises import promise_sweep
from closeloop.settings import Settings
from models.tables import Complaint, CustomerContact, Notification, Outbox, Task, Transition
from models.tables.complaints import MILESTONE_WHERE

LOOKBACK = timedelta(days=7)
#: what the close of a wait without a reason stored as ``wait_reason`` before it stored none
LEGACY_NO_WAIT_REASON = "waiting"
#: complaint triggers that are milestones (the trigger, not the state: a follow-up verdict row keeps the state)
_BY_TRIGGER = {"await_customer": Milestone.WAITING, "resolve": Milestone.RESOLVED, "reopen": Milestone.REOPENED}
#: task kinds whose outcome is not the answer to the customer
_NOT_OUTCOMES = (SystemTaskKind.FOLLOW_UP, SystemTaskKind.ROOT_CAUSE)


def _notice_kind(row) -> NoticeKind:
    """What an audit row of :func:`_changes` tells the customer: a task's transfer, a complaint's wait, resolve
    or reopen; the resolve of a wait that ran out (``data.closed_by``) is the ``closed`` notice, not ``resolved``."""
    if row.entity == "task":
        return NoticeKind.TRANSFERRED
    if row.trigger == "resolve" and (row.data or {}).get("closed_by") == WAIT_EXPIRED:
        return NoticeKind.CLOSED
    return NoticeKind(_BY_TRIGGER[row.trigger].value)


def _milestone(kind: NoticeKind) -> Milestone:
    """The ``[customers] milestones`` entry that turns a notice on: ``closed`` goes with ``waiting`` (the
    waiting notice announced it: "if we do not hear from you by then, we will close the complaint")."""
    return Milestone.WAITING if kind is NoticeKind.CLOSED else Milestone(kind.value)


def _changes(session: Session, wanted: set[Milestone], now: datetime, lookback: timedelta) -> Sequence[Any]:
    t = Transition
    kinds = {("complaint", s) for s, m in _BY_TRIGGER.items() if m in wanted}
    if Milestone.WAITING in wanted:
        kinds.add(("complaint", "resolve"))  # a wait that ran out closes with a resolve row (the closed notice)
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
    return [r for r in rows if (r.entity, r.trigger) in kinds and _milestone(_notice_kind(r)) in wanted]


def _outcome(session: Session, complaint_id: int) -> str:
    """The outcomes the complaint's done department tasks wrote (as written, one a line), or ``""``."""
    outcomes = [o for (o,) in session.execute(
        select(Task.outcome).where(Task.complaint_id == complaint_id, Task.status == TaskStatus.DONE,
                                   Task.kind.not_in(_NOT_OUTCOMES), Task.outcome.is_not(None)).order_by(Task.id))
                if o and o.strip()]
    return "\n".join(outcomes)


def _reason(text: str | None, data: Mapping[str, Any] | None, language: str) -> dict[str, str]:
    """A stored audit reason (``text``, its row's ``data``) as a customer template takes it: ``reason`` in the
    customer's ``language`` (:func:`translate_reason`: the engine's own, known by the code its row stored,
    translated, parameters and nested ones included; a person's as written); ``cause`` the ``SystemReason``
    code of the engine's own, ``""`` for a person's (the templates word the causes a customer is told of for
    a customer instead of showing the audit sentence); ``note`` the customer's own words of a "not satisfied"
    verdict as written, ``""`` for none or the engine's own (an answer by link)."""
    found = stored_reason(text, data)
    note = found.params.get("note", "") if found else ""
    return {"reason": translate_reason(text or "", language, data), "cause": found.code.value if found else "",
            "note": "" if isinstance(note, EngineReason) else note}


def _until(config: Config, row) -> datetime | None:
    """The end of the wait an ``await_customer`` row started, as the sweep ends it (:func:`wait_end`: the earlier
    of its ``until`` and its maximum in business hours); None for a wait without either."""
    return wait_end(config.customer_calendar, row.at, row.data)


def _context(session: Session, config: Config, a: Addressee, kind: NoticeKind, row) -> dict:
    """The template values of notice ``kind`` told by audit ``row`` to ``a``, in their language: every reason
    through :func:`_reason` (``reason``, ``cause``, ``note``); ``resolved`` also the tasks' ``outcome``."""
    data = row.data or {}
    if kind is NoticeKind.TRANSFERRED:
        dep = data.get("to", "")
        names = config.model.customers.department_names.get(a.language, {})
        shown = config.departments[dep].display_name if dep in config.departments else dep
        return {"department": names.get(dep, shown), **_reason(row.reason, data, a.language)}
    if kind is NoticeKind.WAITING:
        until = _until(config, row)
        return {**_reason(row.reason, data, a.language),
                "until": local_time(until, a.zone, a.language) if until else None}
    if kind is NoticeKind.RESOLVED:
        return {"outcome": _outcome(session, row.complaint_id), **_reason(row.reason, data, a.language)}
    if kind is NoticeKind.CLOSED:  # "waiting": the English placeholder rows closed before stored for no reason
        wait = data.get("wait_reason")  # the reason a person gave for the wait: as written
        wait = None if wait == LEGACY_NO_WAIT_REASON else wait
        return _reason(wait, reason_data(wait), a.language)
    return _reason(row.reason, data, a.language)


@dataclass
class _Now:
    """What the complaints of a sweep's milestone rows are at sending time: their statuses, the departments
    holding an active task of each (and the status of each department's latest task), and the latest row of
    each (complaint, notice kind) among the rows read."""

    status: dict[int, str]
    held: dict[tuple[int | None, str], str]
    latest: dict[tuple[int, NoticeKind], int]

    @classmethod
    def read(cls, session: Session, rows: Sequence[Any], kinds: dict[int, NoticeKind]) -> _Now:
        cids = sorted({r.complaint_id for r in rows})
        status = dict(session.execute(select(Complaint.id, Complaint.status).where(Complaint.id.in_(cids))).all())
        held: dict[tuple[int | None, str], str] = {}
        for cid, dep, st in session.execute(select(Task.complaint_id, Task.department, Task.status)
                                            .where(Task.complaint_id.in_(cids)).order_by(Task.id)):
            if held.get((cid, dep), "") not in ACTIVE_STATES:  # an active task holds; else the latest one says why not
                held[(cid, dep)] = st
        latest: dict[tuple[int, NoticeKind], int] = {}
        for r in rows:
            latest[(r.complaint_id, kinds[r.id])] = max(r.id, latest.get((r.complaint_id, kinds[r.id]), 0))
        return cls(status, held, latest)


def stale(kind: NoticeKind, row, now_: _Now, until: datetime | None, at: datetime) -> DropReason | None:
    """None if the milestone notice of audit row ``row`` still applies at sending time ``at``, else why not (the
    rule of held staff notices, README "Escalation and reminder rules": a notice no longer true is not sent):
    a later row of the same kind on the complaint supersedes it (one "now with" per complaint and sweep);
    ``waiting`` needs the complaint still waiting and its deadline ``until`` ahead; ``transferred`` an open
    complaint whose named department still holds an active task; ``resolved``/``closed`` a complaint not
    reopened since; ``reopened`` an open one."""
    cid = row.complaint_id
    if now_.latest[(cid, kind)] != row.id:
        return DropReason.SUPERSEDED
    status = now_.status.get(cid)
    is_open = status in OPEN_STATES
    if kind in (NoticeKind.RESOLVED, NoticeKind.CLOSED):
        return DropReason.COMPLAINT_REOPENED if is_open else None
    if not is_open:
        return DropReason.COMPLAINT_CLOSED
    if kind is NoticeKind.WAITING:
        waiting = status == ComplaintStatus.AWAITING_CUSTOMER and (until is None or until > at)
        return None if waiting else DropReason.NO_LONGER_WAITING
    if kind is NoticeKind.TRANSFERRED:
        held = now_.held.get((cid, (row.data or {}).get("to", "")), "")
        return None if held in ACTIVE_STATES else TASK_GONE.get(held, DropReason.TASK_TRANSFERRED)
    return None


def milestone_notices(session: Session, config: Config, now: datetime, lookback: timedelta = LOOKBACK,
                      links: VerdictLinks | None = None, dropped: Counter[DropReason] | None = None) -> int:
    """Queue the milestone notices and follow-up mails not sent yet (no commit); returns how many were queued.
    A milestone that no longer applies at sending time (:func:`stale`) is kept as a ``dropped`` notification
    (kind ``customer_milestone``, key the outbox key it would have had, its reason), so it is never sent;
    ``dropped`` (when given) counts those kept by this call, by :class:`DropReason`.

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
    kinds = {r.id: _notice_kind(r) for r in rows}
    keys = {r.id: f"customer:{kinds[r.id].value}:{r.complaint_id}:{r.id}" for r in rows}
    done = _settled(session, list(keys.values()))
    todo = [r for r in rows if keys[r.id] not in done]
    who = addressees(session, config, sorted({r.complaint_id for r in todo}))
    todo = [r for r in todo if r.complaint_id in who]
    if not todo:
        return queued
    now_ = _Now.read(session, rows, kinds)
    drafts, drops = [], []
    for r in todo:
        a, kind = who[r.complaint_id], kinds[r.id]
        why = stale(kind, r, now_, _until(config, r) if kind is NoticeKind.WAITING else None, now)
        if why is not None:
            drops.append(_dropped(a, keys[r.id], kind, r, why, now))
        else:
            drafts.append(draft_for(a, keys[r.id], r.complaint_id, kind, **_context(session, config, a, kind, r)))
    kept = insert_new(session, Notification.__table__, drops, key=["key"], returning=Notification.__table__.c.key)
    if dropped is not None:
        why_of = {d["key"]: d["dropped_reason"] for d in drops}
        dropped.update(DropReason(why_of[k]) for k in kept)
    return queued + len(send(session, drafts, now))


def _settled(session: Session, keys: list[str]) -> set[str]:
    """The milestone keys already sent (an outbox row) or dropped (a notification row of the same key)."""
    sent = set(session.scalars(select(Outbox.idempotency_key).where(Outbox.idempotency_key.in_(keys))))
    return sent | set(session.scalars(select(Notification.key).where(Notification.key.in_(keys))))


def _dropped(a: Addressee, key: str, kind: NoticeKind, row, why: DropReason, now: datetime) -> dict:
    """The ``dropped`` notification row that keeps a milestone notice not sent (ids only, no address)."""
    who = f"customer {a.customer_id}"
    return {"key": key, "kind": DomainNotice.CUSTOMER_MILESTONE.value, "level": 0, "role": Role.CUSTOMER.value,
            "recipient": who, "address": who, "channel": a.channel, "target": "", "language": a.language,
            "department": None, "complaint_id": row.complaint_id, "improvement_id": None, "task_id": None,
            "fired_at": now, "release_at": now, "status": NotificationStatus.DROPPED.value,
            "dropped_reason": why.value, "outbox_id": None,
            "data": {"milestone": kind.value, "transition": row.id, "dropped": why.value}}


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


def customer_sweep(session: Session, config: Config, now: datetime, dropped: Counter[DropReason] | None = None) -> int:
    """The sweep's customer step (no commit): promises reminded and broken (:mod:`.promises`), then the
    milestone notices and follow-up mails; returns the customer messages queued. ``dropped`` (when given)
    counts the milestone notices kept ``dropped`` instead of sent, by reason (:func:`milestone_notices`)."""

    promise_sweep(session, config, now)
    return milestone_notices(session, config, now, dropped=dropped)
