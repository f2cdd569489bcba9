"""Months of the review: cut at local midnight, DST-aware, strict parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from closeloop.domain.errors import InvalidInput
from closeloop.services.review.review_period import month, previous_month


def test_month_is_cut_at_local_midnight():
    p = month("2026-10", "America/New_York")
    assert p.start == datetime(2026, 10, 1, 4, 0, tzinfo=UTC)  # EDT: UTC-4
    assert p.end == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # 1 Nov 00:00 is still EDT (change at 02:00)
    s = month("2026-11", "America/New_York")
    assert s.start == p.end and s.end == datetime(2026, 12, 1, 5, 0, tzinfo=UTC)  # EST: UTC-5


def test_december_rolls_into_the_next_year_and_shanghai_has_no_dst():
    p = month("2026-12", "Asia/Shanghai")
    assert p.start == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert p.end == datetime(2026, 12, 31, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-10", "Oct 2026", "2026-1", "", "2026-10-01"])
def test_malformed_months_name_the_field(text):
    with pytest.raises(InvalidInput) as e:
        month(text, "UTC")
    assert e.value.field == "period"


def test_months_back_and_previous_month():
    p = month("2026-02", "Europe/Berlin")
    assert [x.label for x in p.months_back(4)] == ["2025-11", "2025-12", "2026-01", "2026-02"]
    # 1 March 00:30 in Berlin is still 28 February in UTC; the previous month in Berlin is February
    now = datetime(2026, 2, 28, 23, 30, tzinfo=UTC)
    assert previous_month(now, "Europe/Berlin").label == "2026-02"
    assert previous_month(now, "UTC").label == "2026-01"


@pytest.mark.parametrize("text", ["1899-01", "1969-12", "9999-12"])
def test_a_month_out_of_range_names_the_accepted_range(text):
    with pytest.raises(InvalidInput) as e:
        month(text, "America/New_York")
    assert e.value.field == "period" and "YYYY-MM" not in e.value.problem
    assert e.value.problem == f"{text} is out of range: a month from 1970-01 to 9999-11"


def test_the_first_and_last_months_of_the_range_are_accepted():
    assert month("1970-01", "UTC").start == datetime(1970, 1, 1, tzinfo=UTC)
    assert month("9999-11", "Asia/Shanghai").label == "9999-11"
