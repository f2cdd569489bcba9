"""The per-year index (``closeloop.domain.calendar_index``) gives exactly what the walk over working periods
gives, to the microsecond: across year ends, DST changes, days off, make-up days and years far apart; and a
calendar without a working year still falls back to the walk (whose guard raises)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from closeloop.domain.calendar import BusinessCalendar
from closeloop.domain.errors import InvalidInput
from closeloop.domain.hours import parse_hours

from .test_calendar_properties import SETTINGS, US, calendars, instants

DURATIONS = st.lists(st.integers(0, 4000 * 3600 * 10**6).map(lambda us: us * US), min_size=1, max_size=6)


def _walked(cal: BusinessCalendar, start: datetime, durations: list[timedelta]) -> list[datetime]:
    s = start.astimezone(UTC)
    out = [s.astimezone(cal.zone)] * len(durations)
    todo = sorted((d, i) for i, d in enumerate(durations) if d)
    return cal._walk_add(s, todo, out) if todo else out


@SETTINGS
@given(st.data())
def test_adding_by_the_index_is_the_walk(data):
    cal, _ = data.draw(calendars())
    start = data.draw(instants(cal))
    durations = data.draw(DURATIONS)
    got = cal.add_business_times(start, durations)
    want = _walked(cal, start, durations)
    assert [g.astimezone(UTC) for g in got] == [w.astimezone(UTC) for w in want]


@SETTINGS
@given(st.data())
def test_measuring_by_the_index_is_the_walk(data):
    cal, _ = data.draw(calendars())
    a, b = sorted((data.draw(instants(cal)), data.draw(instants(cal))), key=lambda t: t.astimezone(UTC))
    b = b + data.draw(st.integers(0, 3 * 366)) * timedelta(days=1)  # across one or more year ends
    got = cal.business_time_between(a, b)
    assert got == cal._walk_between(a.astimezone(UTC), b.astimezone(UTC))


def test_a_year_end_inside_a_night_shift_and_far_apart_years():
    sh = ZoneInfo("Asia/Shanghai")
    cal = BusinessCalendar(sh, parse_hours("mon-sun 22:00-24:00; mon-sun 00:00-06:00"), name="night")
    start = datetime(2026, 12, 31, 23, 0, tzinfo=sh)
    assert cal.add_business_time(start, timedelta(hours=2)) == datetime(2027, 1, 1, 1, 0, tzinfo=sh)  # 1 h + 1 h
    assert cal.business_time_between(start, datetime(2027, 1, 1, 1, 0, tzinfo=sh)) == timedelta(hours=2)
    far = cal.add_business_time(start, timedelta(hours=8 * 365 * 10))  # about ten years of night shifts
    assert far.astimezone(UTC) == _walked(cal, start, [timedelta(hours=8 * 365 * 10)])[0].astimezone(UTC)


def test_a_year_without_working_time_falls_back_to_the_walk_and_its_guard():
    closed_2027 = {date(2027, 1, 1) + timedelta(days=i) for i in range(365)}
    cal = BusinessCalendar("UTC", parse_hours("mon-fri 09:00-17:00"), days_off=closed_2027)
    start = datetime(2026, 12, 31, 16, 0, tzinfo=UTC)
    # the walk crosses the closed year (under its 3-year guard) and lands in 2028
    assert cal.add_business_time(start, timedelta(hours=2)) == datetime(2028, 1, 3, 10, 0, tzinfo=UTC)
    never = BusinessCalendar("UTC", parse_hours("mon 09:00-10:00"), days_off=lambda y: {
        date(y, 1, 1) + timedelta(days=i) for i in range(366) if (date(y, 1, 1) + timedelta(days=i)).year == y})
    with pytest.raises(InvalidInput) as info:
        never.add_business_time(start, timedelta(hours=1))
    assert info.value.field == "calendar"
