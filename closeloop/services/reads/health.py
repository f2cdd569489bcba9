"""Readiness and the engine's gauges, read from the database (the API's ``/readyz`` and ``/metrics``).

Figures only (counts, ages, durations in seconds); never a name, address or text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, text

from closeloop.domain.inbound_mail import MailOutcome
from closeloop.domain.notices import NotificationStatus, TimerStatus
from closeloop.domain.outbox import OutboxStatus
from closeloop.services.engine.engine_runs import RunKind, RunStats, run_stats
from closeloop.services.uow import unit_of_work
from models import migrate
from models.tables import InboundMail, MailQuarantine, Notification, Outbox, Timer

#: Outbox statuses reported even when no row has them (a gauge at 0 rather than a missing series).
OUTBOX_STATUSES = tuple(s.value for s in OutboxStatus)
#: The window of the run statistics (durations, deliveries by outcome): the last hour.
RUN_WINDOW = timedelta(hours=1)


@dataclass
class Readiness:
    """``ok`` when every check passed; ``checks`` maps each check to ``"ok"`` or the reason it failed."""

    checks: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(v == "ok" for v in self.checks.values())


def readiness(app) -> Readiness:
    """Check ``database`` (a ``SELECT 1`` answers), ``migrations`` (the schema is at Alembic's head) and
    ``configuration`` (the TOML configuration loads). Never raises: a failure is a reason in ``checks``."""
    r = Readiness()
    try:
        with app.engine.connect() as c:
            c.execute(text("SELECT 1"))
        r.checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        r.checks["database"] = f"unreachable: {type(exc).__name__}"
    if r.checks["database"] == "ok":
        try:
            current, head = migrate.current_revision(app.engine), migrate.head_revision(app.engine)
            r.checks["migrations"] = "ok" if current == head else \
                f"schema at {current or 'nothing'}, code expects {head}: run `closeloop db upgrade`"
        except Exception as exc:  # noqa: BLE001
            r.checks["migrations"] = f"unreadable: {type(exc).__name__}"
    else:
        r.checks["migrations"] = "not checked: no database"
    try:
        app.config  # noqa: B018 - loading is the check
        r.checks["configuration"] = "ok"
    except Exception as exc:  # noqa: BLE001
        r.checks["configuration"] = f"not loaded: {exc}"[:300]
    return r


@dataclass(frozen=True)
class EngineGauges:
    """The engine's state at ``now`` (seconds are wall seconds; ages 0 when nothing waits)."""

    outbox_by_status: dict[str, int]
    oldest_pending_message_age_s: float      # outbox rows waiting to be sent (pending/unknown, due)
    oldest_released_notification_age_s: float  # notifications past their quiet hours, not yet packed
    due_timer_lag_s: float                    # now minus the oldest due pending timer
    due_timers: int
    runs: dict[str, RunStats]
    #: inbound e-mail processed in the last hour: (outcome, reason or "") -> messages; every outcome present
    inbound_last_hour: dict[tuple[str, str], int] = field(default_factory=dict)
    quarantined: int = 0                      # raw messages in quarantine now (waiting for a reprocess)


def _age(now: datetime, oldest: datetime | None) -> float:
    return max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0


def engine_gauges(sessions, now: datetime) -> EngineGauges:
    """Read the gauges at the UTC-aware instant ``now`` (a handful of aggregate queries on indexed columns)."""
    with unit_of_work(sessions) as s:
        by_status = dict(s.execute(select(Outbox.status, func.count()).group_by(Outbox.status)).all())
        oldest_msg = s.scalar(select(func.min(Outbox.next_attempt_at)).where(
            Outbox.status.in_((OutboxStatus.PENDING, OutboxStatus.UNKNOWN)), Outbox.next_attempt_at <= now))
        oldest_note = s.scalar(select(func.min(Notification.release_at)).where(
            Notification.status == NotificationStatus.PENDING, Notification.release_at <= now))
        due_count, oldest_due = s.execute(select(func.count(), func.min(Timer.fire_at)).where(
            Timer.status == TimerStatus.PENDING, Timer.fire_at <= now)).one()
        inbound = {(str(o), r or ""): int(n) for o, r, n in s.execute(
            select(InboundMail.outcome, InboundMail.reason, func.count()).where(
                InboundMail.processed_at > now - RUN_WINDOW, InboundMail.processed_at <= now)
            .group_by(InboundMail.outcome, InboundMail.reason))}
        quarantined = int(s.scalar(select(func.count()).select_from(MailQuarantine)) or 0)
    return EngineGauges(
        outbox_by_status={st: int(by_status.get(st, 0)) for st in sorted(set(OUTBOX_STATUSES) | set(by_status))},
        oldest_pending_message_age_s=_age(now, oldest_msg), oldest_released_notification_age_s=_age(now, oldest_note),
        due_timer_lag_s=_age(now, oldest_due), due_timers=int(due_count),
        runs={k.value: run_stats(sessions, k, now, RUN_WINDOW) for k in RunKind},
        inbound_last_hour={**{(str(o), ""): 0 for o in MailOutcome}, **inbound}, quarantined=quarantined)
