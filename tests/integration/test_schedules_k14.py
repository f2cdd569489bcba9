"""Issue 12, K14: every schedule in the recipient's working time and zone (cases 6 and 7)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from prefect.server.schemas.schedules import CronSchedule
from sqlalchemy import select

from closeloop.config import parse_config
from closeloop.services.engine.digest import overdue_digest
from closeloop.services.review.review_period import previous_month
from flows.serve import deployments
from models.tables import Outbox

from .helpers import facts, intake

SH = ZoneInfo("Asia/Shanghai")


def _config(customer_zone="Asia/Shanghai"):
    return parse_config(f"""
[departments.operations]
display_name = "Operations"
calendar = "manager"
[calendars.manager]
timezone = "Asia/Shanghai"
hours = "mon-fri 09:00-18:00"
country = "CN"
[calendars.customers]
timezone = "{customer_zone}"
hours = "mon-fri 09:00-17:00"
[sla]
customer_calendar = "customers"
[sla.targets]
P3 = {{ acknowledge = 1, resolve = 2 }}
[escalation]
operations_manager = {{ name = "王经理", calendar = "manager", language = "zh" }}
crisis_owner = {{ name = "crisis", calendar = "manager" }}
[[rules]]
name = "all"
[rules.when]
category = ["billing"]
[[rules.tasks]]
department = "operations"
kind = "handle"
title = "处理账单投诉"
[fallback]
[[fallback.tasks]]
department = "operations"
kind = "triage"
title = "人工分派"
""", "k14")


def test_case6_daily_digest_at_the_managers_opening_on_working_days_only_in_chinese(sessions):
    config = _config()
    created = datetime(2026, 3, 5, 9, 0, tzinfo=SH)  # Thursday
    intake(sessions, config, created, [facts("K14", created)])
    t = datetime(2026, 3, 6, 0, 0, tzinfo=SH)  # Fri 00:00 .. Tue 00:00, every 10 minutes
    while t < datetime(2026, 3, 10, 0, 0, tzinfo=SH):
        overdue_digest(sessions, config, t)
        t += timedelta(minutes=10)
    with sessions() as s:
        rows = s.execute(select(Outbox.created_at, Outbox.subject, Outbox.body).order_by(Outbox.id)).all()
    assert [r.created_at for r in rows] == [datetime(2026, 3, 6, 9, 0, tzinfo=SH),
                                            datetime(2026, 3, 9, 9, 0, tzinfo=SH)]
    assert rows[0].subject == "closeloop：2026-03-06 超时任务"
    assert rows[0].body == "2026-03-06 超时任务：\n- operations：1 项超时任务，最早截止 2026-03-05 11:00\n"


def test_case7_monthly_review_runs_after_the_month_ended_in_the_zone_it_reports():
    config = _config(customer_zone="Europe/London")  # manager in Shanghai, customers in London
    (review,) = [d for d in deployments(config) if d.name == "monthly-review"]
    (sched,) = review.schedules
    cron = sched.schedule
    dates = asyncio.run(CronSchedule(cron=cron.cron, timezone=cron.timezone).get_dates(
        n=2, start=datetime(2026, 10, 15, tzinfo=UTC)))
    assert [d.astimezone(UTC) for d in dates] == [datetime(2026, 11, 1, 6, 0, tzinfo=UTC),
                                                          datetime(2026, 12, 1, 6, 0, tzinfo=UTC)]
    # each run reviews the month that has just ended in London
    assert [previous_month(d, "Europe/London").label for d in dates] == ["2026-10", "2026-11"]
    # the old schedule (06:00 in the manager's zone) ran at 2026-10-31 22:00Z, before October ended in London
    assert previous_month(datetime(2026, 10, 31, 22, 0, tzinfo=UTC), "Europe/London").label == "2026-09"
