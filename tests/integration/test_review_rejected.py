"""Rows rejected as not complaints are in no complaint figure of the monthly review (received, by severity, by
source, status at the end, the recurrence trend's received); the review shows them once, apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from closeloop.services.departments import routing_config_id, sync_departments
from closeloop.services.intake.intake import intake_batch
from closeloop.services.intake.items import IntakeItem
from closeloop.services.review.review import build_review, render
from models.tables import Complaint
from tests.conftest import shared_file

from .helpers import facts, run_import

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # March 2026 in America/New_York
NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)


def _take_in(sessions, config, items):
    with sessions.begin() as s:
        sync_departments(s, config, T0)
        rc = routing_config_id(s, config, T0)
        intake_batch(s, items, config=config, now=T0 + timedelta(hours=1), routing_config_id=rc)


def test_rejected_rows_are_apart_from_every_complaint_figure(sessions, config):
    complaints = [IntakeItem(facts(f"C{i}", T0 + timedelta(minutes=i), source="email"))
                  for i in range(2)]
    not_complaints = [IntakeItem(facts(f"N{i}", T0 + timedelta(minutes=10 + i), source="social"),
                                 reject_reason="positive tweet") for i in range(3)]
    _take_in(sessions, config, complaints + not_complaints)
    r = build_review(sessions, config, "2026-03", NOW)
    c = r["complaints"]
    assert c["received"] == 2
    assert sum(c["received_by_severity"].values()) == 2
    assert c["received_by_source"] == {"email": 2}
    assert c["rejected_not_complaints"] == 3
    assert "rejected" not in c["status_at_end"] and sum(c["status_at_end"].values()) == 2
    assert r["recurrence"]["trend"][-1]["received"] == 2
    md = render(r, "md")
    sev = ", ".join(f"{k} {v}" for k, v in c["received_by_severity"].items())
    assert f"By severity: {sev}." in md
    assert "rejected as not complaints (in no complaint figure): 3." in md
    assert 'id="rejected"' in render(r, "html")



def test_a_past_months_rows_rejected_when_imported_later_are_not_its_complaints(sessions, config):
    """March rows taken in in April (a late import): the rejected one is no March complaint either."""
    with sessions.begin() as s:
        sync_departments(s, config, NOW)
        rc = routing_config_id(s, config, NOW)
        intake_batch(s, [IntakeItem(facts("LATE-C", T0)),
                         IntakeItem(facts("LATE-N", T0), reject_reason="not a complaint")],
                     config=config, now=NOW, routing_config_id=rc)
    march = build_review(sessions, config, "2026-03", NOW)["complaints"]
    assert (march["received"], march["rejected_not_complaints"]) == (1, 1)
    assert march["status_at_end"] == {"received": 1} and march["open_at_end"] == 1  # triaged in April
    assert sum(march["received_by_severity"].values()) == 1


@pytest.mark.parametrize("rel", ["airline_tweets_2015/tweets_sample.csv",
                                 "zh_online_shopping_reviews/online_shopping_sample.csv"])
def test_shared_exports_reviews_count_no_rejected_row(sessions, config, clock, rel):
    """The airline tweets and the Chinese reviews (../shared/data; skipped when absent): the months' reviews
    receive exactly the complaints intake created, the rejected rows apart."""
    report = run_import(sessions, config, clock, shared_file(rel))
    zone = ZoneInfo(str(config.customer_calendar.zone))
    with sessions() as s:
        months = sorted({at.astimezone(zone).strftime("%Y-%m") for at in s.scalars(select(Complaint.received_at))})
    figures = [build_review(sessions, config, m, clock.now())["complaints"] for m in months]
    assert sum(c["received"] for c in figures) == report.created
    assert sum(c["rejected_not_complaints"] for c in figures) == report.rejected > 0
    assert sum(sum(c["received_by_severity"].values()) for c in figures) == report.created
