"""Retention: delete the engine's spent rows older than a configurable age, in bounded batches.

What goes (``CLOSELOOP_RETENTION_DAYS``, default 90; ``closeloop purge``; the ``purge`` deployment):

- timers ``fired`` or ``cancelled`` (age from ``fired_at``, else ``created_at``);
- notifications ``packed`` or ``cancelled`` (age from ``fired_at``);
- outbox rows ``delivered`` (age from ``delivered_at``) that no remaining notification and no ``message`` points
  at: a message to the customer keeps its outbox row for good (the complaint's history reads when it reached
  the customer, ``delivered_at``, from it: the first-response clock), so the link is never cut;
- ``engine_run`` rows (age from ``finished_at``).

What stays: everything pending or in flight, ``dead`` (dead-lettered) and ``unknown`` outbox rows (an operator
must see them), and the audit log (``transition``), which records every state change a timer
caused. Each batch is its own short transaction of ``DELETE ... WHERE id IN (SELECT id ... LIMIT n)``,
so a purge never holds locks for long and a retry finishes what a crash left.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, func, select

from closeloop.domain.notices import NotificationStatus, TimerStatus
from closeloop.domain.outbox import OutboxStatus
from closeloop.services.bulk import rowcount
from closeloop.services.uow import unit_of_work
from models.tables import EngineRun, Message, Notification, Outbox, Timer


@dataclass
class PurgeReport:
    """Rows deleted per table."""

    timers: int = 0
    notifications: int = 0
    outbox: int = 0
    engine_runs: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def total(self) -> int:
        return self.timers + self.notifications + self.outbox + self.engine_runs


def _delete_batches(sessions, table, where, batch: int) -> int:
    deleted = 0
    while True:
        with unit_of_work(sessions) as s:
            ids = select(table.c.id).where(where).order_by(table.c.id).limit(batch).scalar_subquery()
            n = rowcount(s.execute(delete(table).where(table.c.id.in_(ids))))
        deleted += n
        if n < batch:
            return deleted


def purge(sessions, now: datetime, older_than: timedelta, *, batch: int = 2000) -> PurgeReport:
    """Delete spent rows older than ``now - older_than`` (``now`` UTC-aware); returns counts per table.

    Raises ``ValueError`` for a negative age or a batch below 1.
    """
    if older_than < timedelta(0):
        raise ValueError(f"older_than: must not be negative, got {older_than}")
    if batch < 1:
        raise ValueError(f"batch: must be at least 1, got {batch}")
    cutoff = now - older_than
    tt, nt, ot, rt = Timer.__table__, Notification.__table__, Outbox.__table__, EngineRun.__table__
    report = PurgeReport()
    report.timers = _delete_batches(sessions, tt, and_(tt.c.status.in_((TimerStatus.FIRED, TimerStatus.CANCELLED)),
                                                       func.coalesce(tt.c.fired_at, tt.c.created_at) < cutoff), batch)
    settled = nt.c.status.in_((NotificationStatus.PACKED, NotificationStatus.DROPPED))  # "cancelled" never existed
    report.notifications = _delete_batches(sessions, nt, and_(settled, nt.c.fired_at < cutoff), batch)
    mt = Message.__table__
    noted = select(nt.c.id).where(nt.c.outbox_id == ot.c.id).exists()
    sent_to_customer = select(mt.c.id).where(mt.c.outbox_id == ot.c.id).exists()
    delivered = and_(ot.c.status == OutboxStatus.DELIVERED, ot.c.delivered_at < cutoff, ~noted, ~sent_to_customer)
    report.outbox = _delete_batches(sessions, ot, delivered, batch)
    report.engine_runs = _delete_batches(sessions, rt, rt.c.finished_at < cutoff, batch)
    return report
