"""Retention and concurrent sweeps on the real engine (SQLite and PostgreSQL).

- ``purge`` deletes exactly the spent rows older than the age (fired/cancelled timers, packed
  notifications, delivered messages no notification still points at, engine runs) in bounded batches,
  and keeps everything pending, failed or unknown.
- On PostgreSQL a sweep skips the due timers another sweep holds (FOR UPDATE SKIP LOCKED) instead of
  waiting for them; every timer still fires once.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event, func, or_, select, text, update

from closeloop.services.engine.engine_runs import RunKind, record_run
from closeloop.services.engine.retention import purge
from closeloop.services.engine.sweep import sweep
from models.db import make_engine, make_sessions
from models.tables import EngineRun, Message, Notification, Outbox, Timer

from .helpers import count, facts, intake

AGE = timedelta(days=30)


def _busy_engine(sessions, config, t0, n=12):
    """n complaints; timers scheduled, then fired and packed a week later."""
    at = t0 - timedelta(hours=1)
    intake(sessions, config, t0, [facts(f"R-{i}", at, product="Credit reporting", category="Credit reporting",
                                        customer_ref=f"c{i}") for i in range(n)])
    for day in (0, 1, 2, 3, 7):
        sweep(sessions, config, t0 + timedelta(days=day, hours=day))


def _expected(sessions, cutoff):
    with sessions() as s:
        timers = s.scalar(select(func.count()).select_from(Timer).where(
            Timer.status.in_(("fired", "cancelled")), func.coalesce(Timer.fired_at, Timer.created_at) < cutoff))
        notes = s.scalar(select(func.count()).select_from(Notification).where(
            Notification.status.in_(("packed", "dropped")), Notification.fired_at < cutoff))
        kept_notes = select(Notification.outbox_id).where(Notification.outbox_id.is_not(None), or_(
            Notification.status.not_in(("packed", "dropped")), Notification.fired_at >= cutoff))
        to_customer = select(Message.outbox_id).where(Message.outbox_id.is_not(None))
        outbox = s.scalar(select(func.count()).select_from(Outbox).where(
            Outbox.status == "delivered", Outbox.delivered_at < cutoff, Outbox.id.not_in(kept_notes),
            Outbox.id.not_in(to_customer)))
    return timers, notes, outbox


@pytest.mark.parametrize("batch", [2000, 3])
def test_purge_deletes_exactly_the_spent_rows_older_than_the_age(sessions, config, clock, batch):
    t0 = clock.now()
    _busy_engine(sessions, config, t0)
    with sessions.begin() as s:  # what the deliver flow leaves: most delivered, one failed, one recent
        ids = s.scalars(select(Outbox.id).order_by(Outbox.id)).all()
        assert len(ids) >= 2
        s.execute(update(Outbox).where(Outbox.id.in_(ids[:-1])).values(status="delivered",
                                                                       delivered_at=t0 + timedelta(days=7)))
        s.execute(update(Outbox).where(Outbox.id == ids[-1]).values(status="dead", dead_reason="rejected",
                                                                   last_error="HTTP 410"))
    record_run(sessions, RunKind.SWEEP, worker="w", started_at=t0, finished_at=t0, duration_s=1.0, counts={})
    now = t0 + timedelta(days=7) + AGE + timedelta(days=1)
    record_run(sessions, RunKind.SWEEP, worker="w", started_at=now, finished_at=now, duration_s=1.0, counts={})
    pending_before = count(sessions, Timer, Timer.status == "pending")
    timers, notes, outbox = _expected(sessions, now - AGE)
    assert timers > 0 and notes > 0 and outbox > 0
    # notices dropped at release (their task was done meanwhile) are spent too: purged like packed ones
    assert count(sessions, Notification, Notification.status == "dropped") > 0

    report = purge(sessions, now, AGE, batch=batch)

    assert (report.timers, report.notifications, report.outbox, report.engine_runs) == (timers, notes, outbox, 1)
    assert count(sessions, Timer, Timer.status == "pending") == pending_before
    assert count(sessions, Outbox, Outbox.status == "dead") == 1  # a dead letter stays until retried
    assert count(sessions, Notification, Notification.status == "dropped") == 0  # was never purged before
    assert count(sessions, EngineRun) == 1
    assert purge(sessions, now, AGE, batch=batch).total == 0  # nothing left to delete: idempotent


def test_purge_keeps_a_delivered_message_to_the_customer_and_its_history(sessions, config, clock):
    """The customer's acknowledgement (a ``message`` row linked to its outbox row) survives a purge at age 0.

    The older test had no customer with an e-mail address, so no ``message`` pointed at the outbox and
    SQLite (foreign keys on) never met the violation PostgreSQL raised."""
    from closeloop.domain.customer import ContactPoint, CustomerProfile

    t0 = clock.now()
    who = CustomerProfile("Ann", "en", "UTC", (ContactPoint("email", "ann@example.com", consent=True),))
    (cid,) = intake(sessions, config, t0, [facts("P-1", t0 - timedelta(hours=1), customer_ref="ann", customer=who)])
    delivered_at = t0 + timedelta(minutes=5)
    with sessions.begin() as s:
        linked = s.scalars(select(Message.outbox_id).where(Message.complaint_id == cid,
                                                           Message.outbox_id.is_not(None))).all()
        assert linked  # the acknowledgement was queued and recorded on the complaint
        s.execute(update(Outbox).values(status="delivered", delivered_at=delivered_at))

    purge(sessions, t0 + timedelta(days=1), timedelta(0))

    with sessions() as s:
        kept = {o: s.get(Outbox, o) for o in linked}
        assert all(row is not None and row.delivered_at == delivered_at for row in kept.values())
        assert s.scalars(select(Message.outbox_id).where(Message.complaint_id == cid,
                                                         Message.outbox_id.is_not(None))).all() == linked


def test_purge_refuses_a_negative_age(sessions, clock):
    with pytest.raises(ValueError, match="older_than"):
        purge(sessions, clock.now(), timedelta(days=-1))


def test_a_sweep_skips_timers_another_sweep_holds_instead_of_waiting(pg_engine, config, clock):
    """PostgreSQL only: the claim query is FOR UPDATE SKIP LOCKED (SQLite has one writer at a time)."""
    from tests.conftest import _truncate_pg

    _truncate_pg(pg_engine)
    sessions = make_sessions(pg_engine)
    t0 = clock.now()
    at = t0 - timedelta(hours=1)
    intake(sessions, config, t0, [facts(f"S-{i}", at, product="Credit reporting", category="Credit reporting",
                                        customer_ref=f"s{i}") for i in range(10)])
    sweep(sessions, config, t0)
    later = t0 + timedelta(days=7)
    # a second engine whose statements give up after 5 s on a lock, so a claim that waited would fail here
    impatient = make_engine(pg_engine.url.render_as_string(hide_password=False))
    event.listen(impatient, "connect", lambda conn, _r: conn.execute("SET lock_timeout = '5s'"))
    other = make_sessions(impatient)
    holder = pg_engine.connect()
    tx = holder.begin()
    held = holder.execute(text("SELECT id FROM timer WHERE status = 'pending' AND fire_at <= :now "
                               "ORDER BY fire_at, id LIMIT 5 FOR UPDATE"), {"now": later}).scalars().all()
    assert len(held) == 5
    try:
        report = sweep(other, config, later)  # the other sweep: must not wait for the 5 held timers
        with other() as s:
            still = s.scalars(select(Timer.id).where(Timer.id.in_(held))).all()
            statuses = {s.get(Timer, i).status for i in still}
        assert statuses == {"pending"}  # skipped, not fired, not waited for
        assert sum(report.fired.values()) > 0
    finally:
        tx.rollback()
        holder.close()
    second = sweep(sessions, config, later)  # the held timers fire once, now
    assert sum(second.fired.values()) >= 5
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Timer).where(
            Timer.status == "pending", Timer.fire_at <= later)) == 0
    impatient.dispose()
