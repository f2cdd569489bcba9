"""The effectiveness check of improvement records, and the timers of records (run by the sweep).

When a record is implemented, a timer ``effectiveness:{record}:{implementation}:{attempt}`` fires
``[improvement] effectiveness_weeks`` (N) later (``implementation``: the id of the ``implement`` audit
row, so each implementation, also one after an ineffective check, has its own check). The check moves the record to
``verifying`` and counts **matching complaints** (every fact of the record's
``match`` equal; root cause the record's, a sub-code of it, or not yet known;
not rejected or merged) by ``received_at`` in two equal windows: N weeks before
``implemented_at`` and N weeks after it. The domain's
:func:`~closeloop.domain.improvement.evaluate_effectiveness` decides with
``min_reduction`` and ``min_before``; the result with both counts is stored as an
:class:`~models.tables.EffectivenessCheck` row.

- effective: ``confirm_effective``; customers of linked complaints are told (the ``improved`` milestone of
  ``[customers] milestones``);
- ineffective: ``confirm_ineffective`` then ``rework`` (back to ``in_progress``), and the
  owner department's lead is notified (a notification row, packed into the outbox);
- not enough data: rescheduled once with windows of 2N weeks; a second "not enough
  data" leaves the record ``verifying`` and asks the owner to decide by hand.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.config.improvement import MATCH_FIELDS
from closeloop.domain.complaint import ComplaintStatus
from closeloop.domain.improvement import (
    EffectivenessRule,
    ImprovementStatus,
    ImprovementTrigger,
    evaluate_effectiveness,
)
from closeloop.domain.notices import TIMERS, NoticeKind, Role, TimerKind, TimerStatus
from closeloop.domain.reasons import SystemReason, system_reason
from closeloop.domain.task import ACTIVE_STATES
from closeloop.services.bulk import rowcount
from closeloop.services.customers.notices import improved_notices
from closeloop.services.engine.ledger import records_changed_after
from closeloop.services.engine.notify import insert_notifications, make_item, resolve_role
from closeloop.services.engine.schedule import WantedTimer, reconcile, task_timers
from closeloop.services.transitions import apply
from closeloop.services.uow import unit_of_work
from models.tables import Complaint, EffectivenessCheck, Improvement, Task, Timer, Transition

SYSTEM = "sweep"
log = logging.getLogger("closeloop.capa")
#: the statuses in which a record waits for (or runs) its effectiveness check
CHECKED = (ImprovementStatus.IMPLEMENTED, ImprovementStatus.VERIFYING)


def unknown_facts(match: dict) -> list[str]:
    """The facts of ``match`` that are not complaint facts (:data:`~closeloop.config.improvement.MATCH_FIELDS`),
    sorted."""
    return sorted(str(k) for k in match if k not in MATCH_FIELDS)


#: facts that say how a complaint came in, not what it is about: on their own they group nothing
CHANNEL_FACTS = ("source",)


def has_grouping_facts(match: dict) -> bool:
    """Whether ``match`` (fact -> value) holds a fact with a value other than :data:`CHANNEL_FACTS`: what
    makes complaints "the same problem". Complaints without one (no category, no product: unrelated e-mails)
    never form or join a recurrence cluster, and a record without one matches no complaint."""
    return any(v for k, v in match.items() if k not in CHANNEL_FACTS)


def usable_match(rec: Improvement) -> bool:
    """Whether ``rec``'s stored match names complaint facts only, at least one with a value other than the
    channel (:func:`has_grouping_facts`). A record stored before ``create`` checked its facts may name another
    one: no complaint has that fact, so the record matches none; one proposed from complaints without facts
    (``"Recurring complaints: no facts"``, before recurrence skipped them) would match every such complaint,
    unrelated ones, so it matches none either. A warning is logged (recurrence and the effectiveness check skip
    the record instead of failing)."""
    match = rec.match or {}
    unknown = unknown_facts(match)
    if unknown:
        log.warning("improvement %s matches on unknown fact(s) %s: it matches no complaint",
                    rec.id, ", ".join(unknown), extra={"improvement_id": rec.id})
        return False
    if not has_grouping_facts(match):
        log.warning("improvement %s matches on no fact with a value: it matches no complaint", rec.id,
                    extra={"improvement_id": rec.id})
        return False
    return True


def wanted_improvement_timers(s: Session, rec: Improvement, config: Config, now: datetime) -> list[WantedTimer]:
    """Reminders and escalations of the record's active actions, and its pending effectiveness check."""
    out: list[WantedTimer] = []
    for task in s.scalars(select(Task).where(Task.improvement_id == rec.id, Task.status.in_(ACTIVE_STATES))):
        out.extend(task_timers(s, task, config, now))
    if rec.status in CHECKED and rec.check_due_at is not None:
        spec = TIMERS[TimerKind.EFFECTIVENESS]
        impl = implementation(s, rec.id)
        out.append(WantedTimer(spec.key(record=rec.id, implementation=impl, attempt=rec.check_attempts), spec.kind,
                               rec.check_due_at, None, {"attempt": rec.check_attempts, "implementation": impl}))
    return out


def implementation(s: Session, record_id: int) -> int:
    """The id of the record's latest ``implement`` audit row (0 if none): each implementation's own
    effectiveness timers (keys ``effectiveness:{record}:{implementation}:{attempt}``), so re-implementing
    after an ineffective check never repeats a key that already fired."""
    return s.scalar(select(func.max(Transition.id)).where(
        Transition.entity == "improvement", Transition.entity_id == record_id,
        Transition.trigger == ImprovementTrigger.IMPLEMENT)) or 0


def flag_missing_checks(s: Session) -> int:
    """Flag for rescheduling the records that wait for a check (``check_due_at`` set, implemented or
    verifying) with no pending effectiveness timer: those a re-implementation left without one while the
    key ``effectiveness:{record}:{attempt}`` repeated a fired key (before keys named the implementation).
    The next reconcile gives them their check, at ``check_due_at`` (at once when that has passed).
    Returns how many were flagged."""
    it, tt = Improvement.__table__, Timer.__table__
    pending = select(tt.c.id).where(tt.c.improvement_id == it.c.id, tt.c.kind == TimerKind.EFFECTIVENESS,
                                    tt.c.status == TimerStatus.PENDING)
    res = s.execute(update(it).where(it.c.status.in_(CHECKED), it.c.check_due_at.is_not(None),
                                     it.c.timers_dirty.is_(False), ~pending.exists()).values(timers_dirty=True))
    return rowcount(res)


def reschedule_improvements(sessions, config: Config, now: datetime, batch: int = 500,
                            deferred: set[int] | None = None) -> int:
    """Reconcile the timers of records flagged ``timers_dirty`` (and of those waiting for a check that has
    no pending timer: :func:`flag_missing_checks`); returns how many were rescheduled. A record with an
    audit row (its own or an action's) stamped after ``now`` (a sweep as of a past moment) stays flagged and
    untouched; its id is added to ``deferred`` when given."""
    done = 0
    last_id = 0
    with unit_of_work(sessions) as s:
        flag_missing_checks(s)
    while True:
        with unit_of_work(sessions) as s:
            rows = s.execute(select(Improvement.id, Improvement.version).where(
                Improvement.timers_dirty.is_(True), Improvement.id > last_id).order_by(Improvement.id)
                .limit(batch)).all()
            if not rows:
                return done
            late = records_changed_after(s, [rid for rid, _ in rows], now)
            if deferred is not None:
                deferred.update(late)
            for rid, version in rows:
                if rid in late:
                    continue
                rec = s.get_one(Improvement, rid)
                existing = s.scalars(select(Timer).where(Timer.improvement_id == rid))
                reconcile(s, wanted_improvement_timers(s, rec, config, now), existing, now, improvement_id=rid)
                s.execute(update(Improvement.__table__).where(Improvement.__table__.c.id == rid,
                                                              Improvement.__table__.c.version == version)
                          .values(timers_dirty=False))
                done += 1
            last_id = rows[-1][0]


def matching_count(s: Session, rec: Improvement, start: datetime, end: datetime) -> int:
    """Complaints matching ``rec`` received in ``[start, end)``; 0 when its match names an unknown fact
    (:func:`usable_match`)."""
    if not usable_match(rec):
        return 0
    q = select(func.count()).select_from(Complaint).where(
        Complaint.received_at >= start, Complaint.received_at < end,
        Complaint.status.not_in((ComplaintStatus.REJECTED, ComplaintStatus.MERGED)),
        *[getattr(Complaint, f) == v for f, v in rec.match.items()])
    if rec.root_cause:
        q = q.where(or_(Complaint.root_cause.is_(None), Complaint.root_cause == rec.root_cause,
                        Complaint.root_cause.startswith(rec.root_cause + ".", autoescape=True)))
    return s.scalar(q) or 0


def run_check(s: Session, config: Config, timer, now: datetime, items: list[dict]) -> None:
    """Apply a fired ``effectiveness`` timer (see the module docstring). Stale timers do nothing."""
    rec = s.get(Improvement, timer.improvement_id)
    if rec is None or rec.status not in CHECKED or rec.implemented_at is None:
        return
    data = timer.data or {}
    attempt = int(data.get("attempt", 0))
    if attempt != rec.check_attempts or int(data.get("implementation", 0) or 0) not in (0, implementation(s, rec.id)):
        return  # an earlier attempt's or implementation's timer (one without an implementation: before keys had it)
    if rec.status == ImprovementStatus.IMPLEMENTED:
        apply(s, rec, ImprovementTrigger.BEGIN_VERIFICATION, actor=SYSTEM, at=now,
                        reason=system_reason(SystemReason.EFFECTIVENESS_CHECK_DUE))
    model = config.model.improvement
    window = timedelta(weeks=model.effectiveness_weeks * (attempt + 1))
    impl = rec.implemented_at
    before = matching_count(s, rec, impl - window, impl)
    after = matching_count(s, rec, impl, impl + window)
    days = window.total_seconds() / 86400
    rule = EffectivenessRule(model.min_reduction, model.min_before)
    res = evaluate_effectiveness(before, after, days, days, rule)
    s.add(EffectivenessCheck(improvement_id=rec.id, attempt=attempt, at=now, window_days=days, implemented_at=impl,
                             before_count=before, after_count=after, rate_before=res.rate_before,
                             rate_after=res.rate_after, reduction=res.reduction, decision=res.decision,
                             rule={"min_reduction": rule.min_reduction, "min_before": rule.min_before}))
    summary = (system_reason(SystemReason.EFFECTIVENESS_COUNTS, before=before, after=after, days=f"{days:g}")
               if res.reduction is None else
               system_reason(SystemReason.EFFECTIVENESS_COUNTS_REDUCTION, before=before, after=after,
                             days=f"{days:g}", reduction=f"{res.reduction:+.0%}"))
    if res.decision == "effective":
        apply(s, rec, ImprovementTrigger.CONFIRM_EFFECTIVE, actor=SYSTEM, at=now, reason=summary,
                        data={"before": before, "after": after})
        on_effective(s, config, rec, now)
    elif res.decision == "ineffective":
        apply(s, rec, ImprovementTrigger.CONFIRM_INEFFECTIVE, actor=SYSTEM, at=now, reason=summary,
                        data={"before": before, "after": after})
        on_ineffective(s, config, rec, now, f"{before} → {after}", items)
    elif attempt == 0:
        rec.check_attempts = 1
        rec.check_due_at = impl + 2 * window
        rec.timers_dirty = True
    else:
        rec.check_due_at = None
        rec.timers_dirty = True
        _tell_owner(config, rec, now, items, f"improvement-check:{rec.id}:{attempt}", NoticeKind.IMPROVEMENT_CHECK,
                    {"title": rec.title, "counts": f"{before} → {after}"})


def on_effective(s: Session, config: Config, rec: Improvement, now: datetime) -> None:
    """Stamp ``verified_at`` and tell the linked complaints' customers, in their language over their channel
    (the ``improved`` milestone: :func:`~closeloop.services.customers.notices.improved_notices`, key
    ``customer:improved:{record}:{complaint}``)."""
    rec.verified_at = now
    rec.check_due_at = None
    rec.timers_dirty = True
    improved_notices(s, config, rec.id, now)


def on_ineffective(s: Session, config: Config, rec: Improvement, now: datetime, why: str,
                   items: list[dict] | None = None, *, actor: str = SYSTEM) -> None:
    """Back to ``in_progress`` (a ``rework`` by ``actor``, who confirmed it ineffective: the sweep's check or
    a person) and tell the owner department's lead."""
    apply(s, rec, ImprovementTrigger.REWORK, actor=actor, at=now,
          reason=system_reason(SystemReason.FIX_DID_NOT_WORK, why=why))
    rec.check_due_at = None
    rec.timers_dirty = True
    own = items if items is not None else []
    checks = s.scalar(select(func.count()).select_from(EffectivenessCheck)
                      .where(EffectivenessCheck.improvement_id == rec.id)) or 0
    _tell_owner(config, rec, now, own, f"improvement-ineffective:{rec.id}:{checks}:{now.isoformat()}",
                NoticeKind.IMPROVEMENT_INEFFECTIVE, {"title": rec.title, "why": why})
    if items is None:
        insert_notifications(s, own)


def _tell_owner(config: Config, rec: Improvement, now: datetime, items: list[dict], key: str, kind: NoticeKind,
                params: dict) -> None:
    who = resolve_role(config, Role.LEAD, rec.owner_department)
    items.append(make_item(config, key=key, kind=kind, level=2, who=who, complaint_id=None, task=None,
                           department=rec.owner_department, now=now, params=params, improvement_id=rec.id))
