"""The replay's close-the-loop behaviour model: what the owners of improvement records do.

Seeded and documented like the department model in :mod:`closeloop.services.replay.replay`:

- a record the engine proposes (a cluster of matching complaints) is approved by the operations
  manager ``APPROVE_DAYS`` calendar days later (uniform), with the record's root cause, or, for a record
  without one, the most common root cause its linked complaints have by then (:func:`cause_of`; ``undetermined``
  when none is known), so that its effectiveness check counts the complaints of that cause;
- on approval the owner department starts it and gets one corrective action (a task due
  ``[improvement] action_business_days`` working days later on its calendar, with reminders and
  escalations like any task);
- the action is done ``ACTION_HOURS`` business hours after it was created (log-normal around the
  median, on the owner department's calendar), and the record is implemented at that instant;
- the engine's effectiveness check then runs in simulated time on the complaints that follow
  (:func:`closeloop.services.capa.effectiveness.run_check`); nothing here decides it.

Events are queued through the replay's ``push(at, kind, ref)``; kinds ``approve`` (ref: record id)
and ``action_done`` (ref: task id).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.domain.complaint import ComplaintStatus
from closeloop.domain.improvement import ImprovementStatus
from closeloop.domain.reasons import SystemReason, system_reason
from closeloop.services.capa import improvement as imp
from closeloop.services.work import tasks as task_svc
from models.tables import Complaint, Improvement, ImprovementLink

ACTOR = "replay"
APPROVE_DAYS = (2.0, 5.0)
ACTION_HOURS = 16.0
LOOP_EVENTS = ("approve", "action_done")


class LoopModel:
    """Schedules and carries out the owners' steps for each proposed record (see the module docstring)."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed * 7919 + 1)
        self.seen: set[int] = set()

    def schedule(self, sessions, now: datetime, push) -> None:
        """Queue the approval of every record proposed since the last call."""
        with sessions() as s:
            proposed = s.scalars(select(Improvement.id).where(Improvement.status == ImprovementStatus.PROPOSED)).all()
        for rid in proposed:
            if rid not in self.seen:
                self.seen.add(rid)
                push(now + timedelta(days=self.rng.uniform(*APPROVE_DAYS)), "approve", rid)

    def act(self, sessions, config: Config, kind: str, ref: int, now: datetime, push) -> None:
        """Carry out one event (``approve`` or ``action_done``); raises the services' errors."""
        if kind == "approve":
            self._approve(sessions, config, ref, now, push)
        elif kind == "action_done":
            task = task_svc.complete(sessions, ref, config=config, actor=ACTOR, at=now,
                                     outcome="replayed corrective action")
            assert task.improvement_id is not None  # the replay completes corrective actions of an improvement
            imp.fire(sessions, task.improvement_id, "implement", config=config, actor=ACTOR, at=now,
                     reason=system_reason(SystemReason.REPLAY_ACTION_DONE))

    def _approve(self, sessions, config: Config, rid: int, now: datetime, push) -> None:
        with sessions() as s:
            rec = s.get(Improvement, rid)
            if rec is None or rec.status != ImprovementStatus.PROPOSED:
                return
            owner, title, cause = rec.owner_department, rec.title, rec.root_cause
            linked = [] if cause else linked_causes(s, rid)
        if cause:
            imp.fire(sessions, rid, "approve", config=config, actor=ACTOR, at=now)
        else:
            code, note = cause_of(linked)
            imp.fire(sessions, rid, "approve", config=config, actor=ACTOR, at=now, root_cause=code,
                     root_cause_detail=note)
        imp.fire(sessions, rid, "start", config=config, actor=ACTOR, at=now)
        task = imp.add_action(sessions, rid, config=config, kind="corrective", department=owner,
                              title=f"Remove the cause: {title}"[:500], actor=ACTOR, at=now)
        hours = ACTION_HOURS * math.exp(self.rng.gauss(0, 0.6))
        done = config.department_calendar(owner).add_business_time(now, timedelta(hours=hours))
        push(done, "action_done", task.id)


def linked_causes(s: Session, rid: int) -> list[str]:
    """The root causes recorded so far (``code`` or ``code.sub``) of record ``rid``'s linked complaints that are
    neither rejected nor merged; complaints without one are left out."""
    return list(s.scalars(select(Complaint.root_cause).join(
        ImprovementLink, ImprovementLink.complaint_id == Complaint.id).where(
        ImprovementLink.improvement_id == rid, Complaint.root_cause.is_not(None),
        Complaint.status.not_in((ComplaintStatus.REJECTED, ComplaintStatus.MERGED)))))


def cause_of(causes: list[str]) -> tuple[str, str]:
    """``(root cause code, note)`` an approver gives a record whose linked complaints have ``causes``: the most
    common code among them (a sub-code counts under its code; ties: the first in name order), ``undetermined``
    only when none is known. The record's code then selects the complaints its effectiveness check counts."""
    codes = Counter(c.split(".", 1)[0] for c in causes)
    known = Counter({c: n for c, n in codes.items() if c != "undetermined"})
    if not known:
        return "undetermined", "approved in the replay: no linked complaint has a known root cause yet"
    code, n = min(known.items(), key=lambda kv: (-kv[1], kv[0]))
    return code, f"approved in the replay: the most common root cause of its linked complaints ({n} of {len(causes)})"
