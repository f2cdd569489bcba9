"""A sweep run as of a past moment (``CLOSELOOP_CLOCK_AT`` re-running a flow): it neither stores timers nor
clears a reschedule flag computed from a ledger cut before the complaint's latest audit row, and fires no
timer of such a complaint."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import select

from closeloop.domain.notices import TimerStatus
from closeloop.services.engine.sweep import sweep
from closeloop.services.work import lifecycle
from models.tables import Complaint, Notification, Timer

from .helpers import facts, intake

EST, EDT = timezone(timedelta(hours=-5)), timezone(timedelta(hours=-4))


def _at(day: int, hour: int, minute: int = 0, tz=EST) -> datetime:
    return datetime(2027, 3, day, hour, minute, tzinfo=tz)


def _reopened(sessions, config) -> int:
    """The tester's complaint: received, swept, resolved, reopened a week later (due 2027-03-31)."""
    (cid,) = intake(sessions, config, _at(11, 9), [facts("S-A", _at(11, 9), category="Credit reporting",
                                                          product="Credit reporting", text="x")])
    sweep(sessions, config, _at(11, 9, 5))
    lifecycle.resolve(sessions, cid, config=config, reason="r", actor="t", at=_at(11, 10), root_cause="process_gap")
    lifecycle.reopen(sessions, cid, config=config, reason="again", actor="t", at=_at(18, 10, tz=EDT))
    return cid


def _promise_timers(sessions, cid) -> dict[str, tuple[datetime, str]]:
    with sessions() as s:
        return {t.key: (t.fire_at.astimezone(UTC), t.status) for t in s.scalars(
            select(Timer).where(Timer.complaint_id == cid, Timer.kind == "promise"))}


def test_a_past_moment_sweep_leaves_a_later_changed_complaint_flagged(sessions, config):
    cid = _reopened(sessions, config)
    past = sweep(sessions, config, _at(11, 9, 30))
    with sessions() as s:
        c = s.get_one(Complaint, cid)
        assert c.timers_dirty is True
        assert c.due_at is not None and c.due_at.astimezone(UTC) == datetime(2027, 3, 31, 21, 0, tzinfo=UTC)
    assert past.rescheduled == 0 and past.as_dict()["deferred"] == [cid]
    sweep(sessions, config, _at(18, 10, 10, tz=EDT))
    # as without the past sweep: the promise's level 3 a business day after the due instant
    assert _promise_timers(sessions, cid)[f"promise:{cid}:3"] == (datetime(2027, 4, 1, 21, 0, tzinfo=UTC),
                                                                   TimerStatus.PENDING)
    report = sweep(sessions, config, _at(26, 17, 5, tz=EDT))
    assert "promise" not in report.fired
    with sessions() as s:
        assert s.scalar(select(Notification.id).where(Notification.kind == "promise")) is None


def test_a_past_moment_sweep_fires_no_timer_of_a_later_changed_complaint(sessions, config):
    """A timer due by the past ``now`` but belonging to a complaint changed since stays pending; a sweep at or
    after that change fires it (or the reschedule cancels it)."""
    cid = _reopened(sessions, config)
    sweep(sessions, config, _at(18, 10, 10, tz=EDT))
    with sessions.begin() as s:  # a timer due before the past moment, as a real sweep could have left it
        s.add(Timer(key=f"transfers:{cid}:9", kind="transfers", complaint_id=cid, fire_at=_at(11, 9, 20),
                    status=TimerStatus.PENDING, data={"count": 9}, created_at=_at(18, 10, tz=EDT)))
    past = sweep(sessions, config, _at(11, 9, 30))
    assert not past.fired
    with sessions() as s:
        assert s.scalar(select(Timer.status).where(Timer.key == f"transfers:{cid}:9")) == TimerStatus.PENDING
    assert sweep(sessions, config, _at(18, 10, 20, tz=EDT)).fired["transfers"] == 1


def test_a_past_moment_sweep_leaves_a_later_changed_improvement_record_flagged(sessions, config):
    from closeloop.services.capa import improvement as imp
    from closeloop.services.work import tasks as task_svc
    from models.tables import Improvement

    at = _at(11, 9)
    rec = imp.create(sessions, config=config, title="Fix", owner_department="operations",
                     match={"product": "Credit reporting"}, actor="m", at=at)
    imp.fire(sessions, rec.id, "approve", config=config, root_cause="process_gap", actor="m", at=at)
    imp.fire(sessions, rec.id, "start", config=config, actor="m", at=at)
    task = imp.add_action(sessions, rec.id, config=config, kind="corrective", department="operations",
                          title="Do it", actor="m", at=at, business_days=2)
    task_svc.complete(sessions, task.id, config=config, actor="m", at=_at(11, 11))
    past = sweep(sessions, config, _at(11, 10))
    with sessions() as s:
        assert s.get_one(Improvement, rec.id).timers_dirty is True  # the action was finished after 10:00
    assert past.as_dict()["deferred_records"] == [rec.id]
    assert not sweep(sessions, config, _at(11, 11, 5)).deferred_records
    with sessions() as s:
        assert s.get_one(Improvement, rec.id).timers_dirty is False
