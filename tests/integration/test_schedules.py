"""CASES.md K2 (C07): schedules evaluated by Prefect's own engine across DST; the daily digest goes out
once per working day of the manager, at their opening (issue 12, K14), and is idempotent per local day
(so an extra firing is harmless, K2 -> K6)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from prefect.server.schemas.schedules import CronSchedule

from closeloop.config import load_config
from closeloop.services.engine.digest import overdue_digest
from models.tables import Outbox

from .helpers import count


def _dates(cron, tz, start, n=4):
    dates = asyncio.run(CronSchedule(cron=cron, timezone=tz).get_dates(n=n, start=datetime.fromisoformat(start)))
    return [d.astimezone(UTC).isoformat().replace("+00:00", "Z") for d in dates]


def test_k2_fall_back_hour_fires_once_and_the_gap_fires_once_after_it():
    # 01:30 happens twice on 1 Nov 2026 in Toronto: one run, at the first (EDT) occurrence
    assert _dates("30 1 * * *", "America/Toronto", "2026-10-31T12:00:00+00:00", 2) == [
        "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]
    # 02:30 does not exist on 8 Mar 2026: one run, just after the gap (03:30 EDT)
    assert _dates("30 2 * * *", "America/Toronto", "2026-03-07T12:00:00+00:00", 2) == [
        "2026-03-08T07:30:00Z", "2026-03-09T06:30:00Z"]


def test_daily_digest_twice_the_same_day_writes_one_message(sessions):
    config = load_config()
    # default calendar: America/New_York, Mon-Fri 09:00-17:00 (13:00Z on Monday 9 March, EDT)
    first = overdue_digest(sessions, config, datetime(2026, 3, 9, 13, 10, tzinfo=UTC))
    second = overdue_digest(sessions, config, datetime(2026, 3, 9, 13, 11, tzinfo=UTC))
    assert first is not None and second is None
    assert count(sessions, Outbox) == 1
    assert overdue_digest(sessions, config, datetime(2026, 3, 10, 13, 10, tzinfo=UTC)) is not None
