"""The sweep: reschedule what changed, fire what is due, pack what may be sent. Idempotent.

One call does three set-based steps, each in short transactions:

1. **reschedule** complaints flagged ``timers_dirty`` (every state change flags its complaint; a new
   configuration flags the open work it can reach, K10: :func:`~closeloop.services.departments.apply_configuration`);
2. **fire** pending timers whose ``fire_at`` has passed (catching up after downtime, in time
   order); a timer is claimed with ``UPDATE ... WHERE status = 'pending'`` so two sweeps running
   at once fire it once, and every notification key is unique in the database; on PostgreSQL the
   batch is selected ``FOR UPDATE SKIP LOCKED``, so a second sweep takes the next due timers
   instead of waiting for the first one's batch;
3. **pack** released notifications (inside the recipient's working hours) into one digest
   outbox message per address.

Running it twice changes nothing the second time.

**A sweep as of a past moment** (``now`` earlier than the real time: ``CLOSELOOP_CLOCK_AT`` re-running a
flow) reads every ledger as of ``now``. A complaint or improvement record with an audit row stamped after
``now`` is not touched by it: its reschedule flag stays set and its stored timers and due instants stay as
they are (``deferred`` / ``deferred_records`` in the report, by id), and its pending timers due by ``now``
are not fired (their effects would be stamped before the record's latest change and judged on its state as
it is now); a sweep at or after its latest change does both. Everything else is swept as of ``now``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select

from closeloop.config import Config
from closeloop.domain.errors import InvalidInput, NotFound
from closeloop.domain.notices import (
    TIMERS,
    TimerKind,
    TimerStatus,
)
from closeloop.services.capa.effectiveness import reschedule_improvements
from closeloop.services.customers.milestones import customer_sweep
from closeloop.services.departments import apply_configuration
from closeloop.services.engine.schedule import reschedule_batch
from closeloop.services.engine.sweep_fire import fire_due
from closeloop.services.engine.sweep_pack import pack
from closeloop.services.uow import unit_of_work
from models.tables import Complaint, Task, Timer


@dataclass
class SweepReport:
    """What one sweep did: counts, and ``fired`` by timer kind; ``dropped``: staff notices dropped when packed,
    ``customer_dropped``: customer milestone notices kept ``dropped`` instead of sent; both by
    :class:`~closeloop.domain.notices.DropReason`."""

    rescheduled: int = 0
    policy_flagged: int = 0  # complaints flagged because the configuration changed (K10)
    fired: Counter = field(default_factory=Counter)
    notifications: int = 0
    messages: int = 0
    tasks_created: int = 0
    customer_notices: int = 0
    dropped: Counter = field(default_factory=Counter)
    customer_dropped: Counter = field(default_factory=Counter)  # customer milestone notices dropped, by reason
    complaints: set = field(default_factory=set)
    departments: set = field(default_factory=set)
    deferred: set = field(default_factory=set)  # complaint ids changed after ``now``: left flagged (past moment)
    deferred_records: set = field(default_factory=set)  # improvement record ids, likewise

    def run_counts(self) -> dict[str, int]:
        """The integer counts stored with the run in ``engine_run`` (``engine_runs.timed_run``), by name."""
        return {"fired": sum(self.fired.values()), "rescheduled": self.rescheduled,
                "notifications": self.notifications, "messages": self.messages, "tasks_created": self.tasks_created}

    def as_dict(self) -> dict:
        return {"rescheduled": self.rescheduled, "fired": dict(sorted(self.fired.items())),
                "notifications": self.notifications, "messages": self.messages,
                "tasks_created": self.tasks_created, "dropped": dict(sorted(self.dropped.items())),
                **({"policy_flagged": self.policy_flagged} if self.policy_flagged else {}),
                **({"deferred": sorted(self.deferred)} if self.deferred else {}),
                **({"deferred_records": sorted(self.deferred_records)} if self.deferred_records else {}),
                **({"customer_notices": self.customer_notices} if self.customer_notices else {}),
                **({"customer_dropped": dict(sorted(self.customer_dropped.items()))} if self.customer_dropped else {})}


def sweep(sessions, config: Config, now: datetime, *, batch: int = 500) -> SweepReport:
    """Run the three steps at the UTC-aware instant ``now`` (see the module docstring)."""
    report = SweepReport()
    with unit_of_work(sessions) as s:  # K10: a new configuration reaches open work in this very sweep
        report.policy_flagged = apply_configuration(s, config, now)[1]
    _reschedule_dirty(sessions, config, now, batch, report)
    reschedule_improvements(sessions, config, now, batch, report.deferred_records)
    for _ in range(MAX_ROUNDS):  # effects of firing (closes, follow-up tasks, the next page) may fall due now
        fired = sum(report.fired.values())
        fire_due(sessions, config, now, batch, report)
        _reschedule_dirty(sessions, config, now, batch, report)
        reschedule_improvements(sessions, config, now, batch, report.deferred_records)
        if sum(report.fired.values()) == fired:
            break
    with unit_of_work(sessions) as s:  # issue 13: promises; milestone notices and follow-up mails to customers
        report.customer_notices = customer_sweep(s, config, now, report.customer_dropped)
    pack(sessions, now, report)
    return report


#: Fire/reschedule rounds per sweep at most (a chain that keeps falling due continues in the next sweep).
MAX_ROUNDS = 5


# ------------------------------------------------------------------ 1. reschedule
def _reschedule_dirty(sessions, config, now, batch, report) -> None:
    """Reschedule the complaints flagged ``timers_dirty``, ``batch`` at a time, each batch set-based
    (:func:`~closeloop.services.engine.schedule.reschedule_batch`) in its own transaction.

    PostgreSQL: a batch is claimed ``FOR UPDATE SKIP LOCKED``, so sweeps running at once (several
    workers, issue 15) share the dirty complaints instead of queueing on the same rows or deadlocking on
    their timers; a complaint locked by a use case in flight is left dirty for the next sweep. A sweep
    killed mid-batch loses its locks with its connection and its complaints stay dirty (nothing is lost).
    """
    last_id = 0
    while True:
        with unit_of_work(sessions) as s:
            rows = s.execute(select(Complaint.id, Complaint.version).where(
                Complaint.timers_dirty.is_(True), Complaint.id > last_id).order_by(Complaint.id).limit(batch)
                .with_for_update(skip_locked=True)).all()
            if not rows:
                return
            report.rescheduled += reschedule_batch(s, [(cid, v) for cid, v in rows], config, now, report.deferred)
            last_id = rows[-1][0]


def add_manual_reminder(sessions, task_id: int, at: datetime, *, note: str, now: datetime) -> Timer:
    """A reminder on a task at ``at`` (UTC-aware). Keyed by (task, instant): a second reminder at
    another instant is a second notification, the same instant twice is one (CASES.md C21).

    Raises ``InvalidInput("at", ...)`` for an instant before ``now`` (a reminder is for later: one in the past
    would fire at the next sweep, at a time nobody chose) and ``NotFound`` for an unknown task."""
    if at < now:
        now_there = now.astimezone(at.tzinfo).isoformat(timespec="seconds")
        raise InvalidInput("at", f"{at.isoformat()} is in the past (now {now_there}); a reminder is set for a "
                                 "later instant")
    with unit_of_work(sessions) as s:
        task = s.get(Task, task_id)
        if task is None:
            raise NotFound("task", task_id)
        key = TIMERS[TimerKind.MANUAL_REMINDER].key(task=task_id, at=at.astimezone(UTC).isoformat())
        existing = s.scalar(select(Timer).where(Timer.key == key))
        if existing is not None:
            return existing
        timer = Timer(key=key, kind=TimerKind.MANUAL_REMINDER, complaint_id=task.complaint_id,
                      improvement_id=task.improvement_id, task_id=task.id, fire_at=at,
                      status=TimerStatus.PENDING, data={"note": note}, created_at=now)
        s.add(timer)
        return timer


__all__ = ["sweep", "SweepReport", "add_manual_reminder"]
