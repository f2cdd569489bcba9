"""BusinessCalendar and parse_hours (pure domain): rules, precedence, DST in five zones, guards, errors.

Expected values are computed by hand in the comments. Results are compared via
``isoformat()`` (which carries the offset) or in UTC: Python compares datetimes
that share a tzinfo by wall time, ignoring the offset.
"""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from closeloop.domain.calendar import BusinessCalendar
from closeloop.domain.errors import InvalidInput
from closeloop.domain.hours import END_OF_DAY, format_hours, parse_hours

UTC = UTC
H = timedelta(hours=1)
SH, BER, NY = ZoneInfo("Asia/Shanghai"), ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
BNE, SYD, RUH = ZoneInfo("Australia/Brisbane"), ZoneInfo("Australia/Sydney"), ZoneInfo("Asia/Riyadh")


def cal(zone, spec, **kw) -> BusinessCalendar:
    return BusinessCalendar(zone, parse_hours(spec), **kw)


def iso(dt: datetime) -> str:
    return dt.isoformat()


def z(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------ parse_hours
def test_parse_hours_examples():
    nine_six = [(time(9), time(18))]
    assert parse_hours("mon-fri 09:00-18:00") == {d: nine_six for d in range(5)}
    split = parse_hours("mon-fri 09:00-12:00,13:00-18:00; sat 10:00-14:00")
    assert split[0] == [(time(9), time(12)), (time(13), time(18))] and split[5] == [(time(10), time(14))]
    assert 6 not in split
    assert sorted(parse_hours("sun-thu 09:00-17:00")) == [0, 1, 2, 3, 6]  # the range wraps over the weekend
    assert sorted(parse_hours("mon,wed,fri 08:00-12:00")) == [0, 2, 4]
    assert parse_hours("mon 00:00-24:00") == {0: [(time(0), END_OF_DAY)]}
    assert parse_hours("Monday - Friday 9:00 - 17:00;") == {d: [(time(9), time(17))] for d in range(5)}
    # the same day in two parts merges (and is sorted)
    assert parse_hours("mon 13:00-18:00; mon 09:00-12:00")[0] == [(time(9), time(12)), (time(13), time(18))]
    # touching periods are not an overlap
    assert parse_hours("tue 09:00-12:00,12:00-18:00")[1] == [(time(9), time(12)), (time(12), time(18))]


@pytest.mark.parametrize("spec, fragment", [
    ("", "empty"),
    ("mon-fri 9-18", "bad time '9'"),
    ("xyz 09:00-10:00", "unknown day"),
    ("mon-fri", "no periods"),
    ("09:00-18:00", "no days"),
    ("mon 18:00-09:00", "does not end after it starts"),
    ("mon 09:00-09:00", "does not end after it starts"),
    ("mon 24:00-24:00", "bad time '24:00'"),
    ("mon 09:60-10:00", "bad time '09:60'"),
    ("mon 09:00-25:00", "bad time '25:00'"),
    ("mon 09:00", "bad period"),
    ("mon 09:00-12:00,11:00-13:00", "overlap"),
    ("mon-fri 09:00-12:00; wed 11:00-14:00", "part 2"),
    ("mon 09:00-10:00;; tue 09:00-10:00", "part 2 is empty"),
])
def test_parse_hours_errors_name_the_part(spec, fragment):
    with pytest.raises(InvalidInput) as exc:
        parse_hours(spec)
    assert exc.value.field == "hours" and fragment in exc.value.problem


def test_overlap_across_parts_names_the_day():
    with pytest.raises(InvalidInput, match="wed: periods 09:00-12:00 and 11:00-14:00 overlap"):
        parse_hours("mon-fri 09:00-12:00; wed 11:00-14:00")


def test_format_hours_round_trips():
    spec = "mon-fri 09:00-12:00,13:00-18:00; sat 10:00-24:00"
    assert format_hours(parse_hours(spec)) == spec
    assert parse_hours(format_hours(parse_hours("sun-thu 09:00-17:00"))) == parse_hours("sun-thu 09:00-17:00")


# ------------------------------------------------------------------ constructor errors
@pytest.mark.parametrize("kwargs, field", [
    ({"zone": "Mars/Olympus"}, "zone"),
    ({"weekly": {7: [(time(9), time(17))]}}, "weekly"),
    ({"weekly": {0: [(time(9), time(8))]}}, "weekly[0]"),
    ({"weekly": {0: [(time(9), time(12)), (time(11), time(13))]}}, "weekly[0]"),
    ({"weekly": {0: ["09:00-17:00"]}}, "weekly[0]"),
    ({"makeup_periods": [(time(18), time(9))]}, "makeup_periods"),
    ({"days_off": [datetime(2026, 1, 1)]}, "days_off"),
    ({"working_days": ["2026-01-01"]}, "working_days"),
])
def test_constructor_validates(kwargs, field):
    args = {"zone": "UTC", "weekly": {0: [(time(9), time(17))]}, **kwargs}
    with pytest.raises(InvalidInput) as exc:
        BusinessCalendar(**args)
    assert exc.value.field == field


def test_naive_and_negative_inputs_are_rejected_naming_the_argument():
    c = cal(SH, "mon-fri 09:00-18:00")
    naive, aware = datetime(2026, 3, 2, 10), datetime(2026, 3, 2, 10, tzinfo=SH)
    for call, field in [(lambda: c.add_business_time(naive, H), "start"),
                        (lambda: c.business_time_between(naive, aware), "start"),
                        (lambda: c.business_time_between(aware, naive), "end"),
                        (lambda: c.is_open(naive), "instant"),
                        (lambda: c.next_opening(naive), "instant"),
                        (lambda: c.add_business_time(aware, -H), "duration"),
                        (lambda: c.add_business_time(aware, 4), "duration"),
                        (lambda: c.periods_on(aware), "day")]:
        with pytest.raises(InvalidInput) as exc:
            call()
        assert exc.value.field == field
    with pytest.raises(InvalidInput, match="start: naive datetime; an offset or UTC is required"):
        c.add_business_time(naive, H)


# ------------------------------------------------------------------ basic rules (Asia/Shanghai, +08, no DST)
def test_due_may_fall_exactly_at_closing_time():
    c = cal(SH, "mon-fri 09:00-18:00")
    # Mon 2026-03-02 09:00 + 9 h uses up the whole day: due 18:00 the same day, not Tue 09:00
    assert iso(c.add_business_time(datetime(2026, 3, 2, 9, tzinfo=SH), 9 * H)) == "2026-03-02T18:00:00+08:00"
    # ... one microsecond more spills into Tuesday
    assert iso(c.add_business_time(datetime(2026, 3, 2, 9, tzinfo=SH), 9 * H + timedelta(microseconds=1))) \
        == "2026-03-03T09:00:00.000001+08:00"


def test_counting_starts_at_the_next_opening_outside_hours():
    c = cal(SH, "mon-fri 09:00-18:00")
    # at 18:00 (closed, [start, end)): 1 h -> Tue 10:00; before opening: 08:00 + 1 h -> 10:00
    assert iso(c.add_business_time(datetime(2026, 3, 2, 18, tzinfo=SH), H)) == "2026-03-03T10:00:00+08:00"
    assert iso(c.add_business_time(datetime(2026, 3, 2, 8, tzinfo=SH), H)) == "2026-03-02T10:00:00+08:00"
    # Saturday 12:00 + 1 h -> Monday 10:00; the input's zone does not matter, the result is in +08
    assert iso(c.add_business_time(datetime(2026, 3, 7, 4, tzinfo=UTC), H)) == "2026-03-09T10:00:00+08:00"


def test_adding_zero_returns_the_start_unchanged_even_when_closed():
    c = cal(SH, "mon-fri 09:00-18:00")
    sat = datetime(2026, 3, 7, 4, tzinfo=UTC)  # Sat 12:00 +08, closed
    got = c.add_business_time(sat, timedelta(0))
    assert got == sat and got.tzinfo is SH and iso(got) == "2026-03-07T12:00:00+08:00"


def test_is_open_and_next_opening():
    c = cal(SH, "mon-fri 09:00-13:00,14:00-18:00")
    wed = lambda h, m=0: datetime(2026, 3, 4, h, m, tzinfo=SH)  # noqa: E731
    assert c.is_open(wed(9)) and c.is_open(wed(17, 59))
    assert c.is_open(datetime(2026, 3, 4, 12, 59, 59, 999999, tzinfo=SH))
    assert not c.is_open(wed(13)) and not c.is_open(wed(18)) and not c.is_open(wed(8, 59))
    assert c.next_opening(wed(10)) == wed(10)
    assert iso(c.next_opening(wed(13, 20))) == "2026-03-04T14:00:00+08:00"  # lunch break
    assert iso(c.next_opening(wed(18))) == "2026-03-05T09:00:00+08:00"
    assert iso(c.next_opening(datetime(2026, 3, 6, 12, tzinfo=UTC))) == "2026-03-09T09:00:00+08:00"  # Fri 20:00


def test_business_time_between():
    c = cal(SH, "mon-fri 09:00-18:00")
    fri = datetime(2026, 3, 6, 17, tzinfo=SH)
    assert c.business_time_between(fri, datetime(2026, 3, 9, 12, 30, tzinfo=SH)) == 4.5 * H  # 1 h + 3.5 h
    assert c.business_time_between(fri, fri) == timedelta(0)
    assert c.business_time_between(fri, fri - H) == timedelta(0)
    assert c.business_time_between(datetime(2026, 3, 7, tzinfo=SH), datetime(2026, 3, 8, 23, tzinfo=SH)) == 0 * H


def test_night_shift_across_midnight_is_contiguous():
    c = cal(SH, "mon 22:00-24:00; tue 00:00-06:00")
    mon = datetime(2026, 3, 2, 23, tzinfo=SH)
    assert c.periods_on(date(2026, 3, 2))[0][1] == datetime(2026, 3, 3, tzinfo=SH)
    assert iso(c.add_business_time(mon, 4 * H)) == "2026-03-03T03:00:00+08:00"
    assert iso(c.add_business_time(mon, H)) == "2026-03-03T00:00:00+08:00"  # due exactly at the 24:00 end
    assert c.is_open(datetime(2026, 3, 3, tzinfo=SH))


# ------------------------------------------------------------------ precedence of days
def test_precedence_makeup_day_beats_day_off_beats_weekly():
    wed, sat, sun = date(2026, 3, 4), date(2026, 3, 7), date(2026, 3, 8)
    c = cal(SH, "mon-fri 09:00-18:00; sat 10:00-14:00", days_off={wed, sun}, working_days={sat, sun})
    hours = lambda d: [(s.time(), e.time()) for s, e in c.periods_on(d)]  # noqa: E731
    assert hours(date(2026, 3, 3)) == [(time(9), time(18))]  # weekly
    assert hours(wed) == []  # day off beats the weekly table
    assert hours(sat) == [(time(9), time(18))]  # make-up day: Monday's periods, not Saturday's 10-14
    assert hours(sun) == [(time(9), time(18))]  # explicit working day beats a day off too
    assert hours(date(2026, 3, 14)) == [(time(10), time(14))]  # an ordinary Saturday


def test_makeup_periods_default_and_explicit():
    weekend_only = cal(SH, "sat 10:00-14:00; sun 09:00-12:00", working_days={date(2026, 3, 4)})
    assert [(s.hour, e.hour) for s, e in weekend_only.periods_on(date(2026, 3, 4))] == [(10, 14)]  # Saturday's
    explicit = cal(SH, "mon-fri 09:00-18:00", working_days={date(2026, 3, 7)}, makeup_periods=[(time(9), time(12))])
    assert [(s.hour, e.hour) for s, e in explicit.periods_on(date(2026, 3, 7))] == [(9, 12)]


def test_year_providers_are_called_once_per_year():
    calls: list[int] = []

    def off(year):
        calls.append(year)
        return {date(year, 3, 4)}

    c = cal(SH, "mon-fri 09:00-18:00", days_off=off)
    assert c.periods_on(date(2026, 3, 4)) == [] and c.periods_on(date(2027, 3, 4)) == []
    c.add_business_time(datetime(2026, 3, 3, 9, tzinfo=SH), 2000 * H)
    assert sorted(set(calls)) == calls == [2026, 2027]


# ------------------------------------------------------------------ guards and cost
def test_calendar_without_working_time_raises_instead_of_looping():
    start = datetime(2026, 3, 2, tzinfo=UTC)
    for c in (BusinessCalendar("UTC", {}),
              cal("UTC", "mon-fri 09:00-18:00",
                  days_off=lambda y: {date(y, 1, 1) + timedelta(days=i) for i in range(366)})):
        t0 = clock.perf_counter()
        with pytest.raises(InvalidInput) as exc:
            c.add_business_time(start, H)
        assert exc.value.field == "calendar" and "no working time" in exc.value.problem
        with pytest.raises(InvalidInput):
            c.next_opening(start)
        assert c.business_time_between(start, start + 400 * 24 * H) == timedelta(0)
        assert clock.perf_counter() - t0 < 5


def test_two_thousand_business_hours_step_over_days():
    c = cal(SH, "mon-fri 09:00-18:00")
    t0 = clock.perf_counter()
    # 2000 h = 222 days of 9 h + 2 h. Day 1 is Mon 2026-01-05; 44 weeks later (day 221) is Mon 2026-11-09,
    # day 222 Tue 11-10, then 2 h on Wed 2026-11-11: due 11:00.
    due = c.add_business_time(datetime(2026, 1, 5, 9, tzinfo=SH), 2000 * H)
    assert iso(due) == "2026-11-11T11:00:00+08:00"
    assert c.business_time_between(datetime(2026, 1, 5, 9, tzinfo=SH), due) == 2000 * H
    assert clock.perf_counter() - t0 < 1.0


# ------------------------------------------------------------------ Europe/Berlin, both 2026 DST changes
def test_berlin_dst_days_count_real_time():
    whole = cal(BER, "sun 00:00-24:00")
    spring, autumn = datetime(2026, 3, 29, tzinfo=BER), datetime(2026, 10, 25, tzinfo=BER)
    # 29 Mar: 02:00 CET -> 03:00 CEST, the day is 23 h; 25 Oct: 03:00 CEST -> 02:00 CET, 25 h
    assert whole.business_time_between(spring, spring + 48 * H) == 23 * H
    assert whole.business_time_between(autumn, autumn + 48 * H) == 25 * H
    day = cal(BER, "sun 09:00-18:00")  # the change is at 02:00/03:00, outside the period: 9 h both days
    assert day.business_time_between(spring, spring + 24 * H) == 9 * H
    assert day.business_time_between(autumn, autumn + 24 * H) == 9 * H
    night = cal(BER, "sun 01:00-04:00")  # contains the skipped / repeated hour: 2 h and 4 h real time
    assert night.business_time_between(spring, spring + 24 * H) == 2 * H
    assert night.business_time_between(autumn, autumn + 24 * H) == 4 * H
    # 01:00 CEST (Sat 23:00Z) + 1.5 h = 00:30Z = 02:30 CEST (first pass); + 2.5 h = 02:30 CET (second pass)
    start = datetime(2026, 10, 25, 1, tzinfo=BER)
    assert iso(night.add_business_time(start, 1.5 * H)) == "2026-10-25T02:30:00+02:00"
    assert iso(night.add_business_time(start, 2.5 * H)) == "2026-10-25T02:30:00+01:00"
    assert iso(night.add_business_time(start, 4 * H)) == "2026-10-25T04:00:00+01:00"


def test_berlin_weekday_calendar_across_both_changes():
    c = cal(BER, "mon-fri 09:00-18:00")
    # Fri 27 Mar 17:00 CET (16:00Z) + 2 h: 1 h Friday, 1 h from Mon 30 Mar 09:00 CEST -> 10:00 CEST = 08:00Z
    due = c.add_business_time(datetime(2026, 3, 27, 17, tzinfo=BER), 2 * H)
    assert iso(due) == "2026-03-30T10:00:00+02:00" and z(due) == "2026-03-30T08:00:00Z"
    # Fri 23 Oct 17:00 CEST (15:00Z) + 2 h -> Mon 26 Oct 10:00 CET = 09:00Z
    due = c.add_business_time(datetime(2026, 10, 23, 17, tzinfo=BER), 2 * H)
    assert iso(due) == "2026-10-26T10:00:00+01:00" and z(due) == "2026-10-26T09:00:00Z"
    always = cal(BER, "mon-sun 00:00-24:00")
    # 24 business hours on a 24/7 calendar are 24 real hours: the wall clock moves 25 h / 23 h
    assert iso(always.add_business_time(datetime(2026, 3, 28, 12, tzinfo=BER), 24 * H)) == "2026-03-29T13:00:00+02:00"
    assert iso(always.add_business_time(datetime(2026, 10, 24, 12, tzinfo=BER), 24 * H)) == "2026-10-25T11:00:00+01:00"


def test_period_boundaries_inside_the_skipped_hour():
    # On 29 Mar 2026 Berlin skips 02:00-03:00. A period 02:30-04:00 opens at the change (03:00 CEST): 1 h.
    c = cal(BER, "sun 02:30-04:00")
    [(s, e)] = c.periods_on(date(2026, 3, 29))
    assert (iso(s), iso(e)) == ("2026-03-29T03:00:00+02:00", "2026-03-29T04:00:00+02:00")
    assert not c.is_open(datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC))
    assert c.is_open(datetime(2026, 3, 29, 1, tzinfo=UTC))
    # on 25 Oct, 02:30 is the first 02:30 (CEST) and 04:00 is CET: 2.5 h
    [(s, e)] = c.periods_on(date(2026, 10, 25))
    assert (iso(s), iso(e)) == ("2026-10-25T02:30:00+02:00", "2026-10-25T04:00:00+01:00")
    assert cal(BER, "sun 02:15-02:45").periods_on(date(2026, 3, 29)) == []  # wholly skipped: vanishes


# ------------------------------------------------------------------ America/New_York, 8 Mar and 1 Nov 2026
def test_new_york_across_both_changes():
    c = cal(NY, "mon-fri 09:00-17:00")
    fri = datetime(2026, 3, 6, 16, tzinfo=NY)  # 16:00 EST = 21:00Z
    due = c.add_business_time(fri, 2 * H)  # 1 h Friday + 1 h Monday: 10:00 EDT = 14:00Z
    assert iso(due) == "2026-03-09T10:00:00-04:00" and z(due) == "2026-03-09T14:00:00Z"
    assert c.business_time_between(fri, due) == 2 * H
    assert due.astimezone(UTC) - fri.astimezone(UTC) == 65 * H  # the naive wall difference would be 66 h
    due = c.add_business_time(datetime(2026, 10, 30, 16, tzinfo=NY), 2 * H)  # 16:00 EDT -> Mon 10:00 EST
    assert iso(due) == "2026-11-02T10:00:00-05:00" and z(due) == "2026-11-02T15:00:00Z"
    whole = cal(NY, "sun 00:00-24:00")
    assert whole.business_time_between(datetime(2026, 3, 8, tzinfo=NY), datetime(2026, 3, 9, tzinfo=NY)) == 23 * H
    assert whole.business_time_between(datetime(2026, 11, 1, tzinfo=NY), datetime(2026, 11, 2, tzinfo=NY)) == 25 * H
    # 01:00-03:00 on 1 Nov: 01:00 EDT (05:00Z) to 03:00 EST (08:00Z) = 3 h; on 8 Mar 01:00 EST to 03:00 EDT = 1 h
    early = cal(NY, "sun 01:00-03:00")
    assert early.business_time_between(datetime(2026, 11, 1, tzinfo=NY), datetime(2026, 11, 2, tzinfo=NY)) == 3 * H
    assert early.business_time_between(datetime(2026, 3, 8, tzinfo=NY), datetime(2026, 3, 9, tzinfo=NY)) == 1 * H


# ------------------------------------------------------------------ Australia/Brisbane (+10, no DST) vs Sydney
def test_brisbane_has_no_dst_while_sydney_changes():
    # Sydney: AEDT -> AEST on Sun 5 Apr 2026 (25 h day), AEST -> AEDT on Sun 4 Oct 2026 (23 h day)
    for zone, spring, autumn in ((BNE, 24, 24), (SYD, 23, 25)):
        whole = cal(zone, "sun 00:00-24:00")
        oct4, oct5, apr5, apr6 = (datetime(2026, m, d, tzinfo=zone) for m, d in ((10, 4), (10, 5), (4, 5), (4, 6)))
        assert whole.business_time_between(oct4, oct5) == spring * H
        assert whole.business_time_between(apr5, apr6) == autumn * H
    c = cal(BNE, "mon-fri 08:30-17:00")
    # Fri 2 Oct 16:00 + 2 h: 1 h Friday, 1 h from Mon 5 Oct 08:30 -> 09:30 +10:00 = Sun 23:30Z
    due = c.add_business_time(datetime(2026, 10, 2, 16, tzinfo=BNE), 2 * H)
    assert iso(due) == "2026-10-05T09:30:00+10:00" and z(due) == "2026-10-04T23:30:00Z"


# ------------------------------------------------------------------ Asia/Riyadh (+03), Sunday-Thursday week
def test_riyadh_sunday_to_thursday_week():
    c = cal(RUH, "sun-thu 09:00-17:00")
    thu = datetime(2026, 5, 14, 16, tzinfo=RUH)
    # 1 h Thursday; Friday and Saturday are the weekend; 1 h from Sun 17 May 09:00 -> 10:00 +03 = 07:00Z
    due = c.add_business_time(thu, 2 * H)
    assert iso(due) == "2026-05-17T10:00:00+03:00" and z(due) == "2026-05-17T07:00:00Z"
    assert not c.is_open(datetime(2026, 5, 15, 12, tzinfo=RUH)) and not c.is_open(datetime(2026, 5, 16, 12, tzinfo=RUH))
    assert c.is_open(datetime(2026, 5, 17, 9, tzinfo=RUH))
    assert c.business_time_between(thu, due) == 2 * H


def test_clock_falling_back_across_midnight():
    # St. John's, 7 Nov 2010: at 00:01 NDT (-02:30) the clock fell back to Sat 23:01 NST (-03:30). Sunday opens
    # the first time the clock reads Sunday 00:00 (02:30Z); 03:00Z reads "Sat 23:30" again but is Sunday time.
    sj = ZoneInfo("America/St_Johns")
    c = cal(sj, "sun 00:00-24:00")
    [(s, e)] = c.periods_on(date(2010, 11, 7))
    assert (z(s), z(e)) == ("2010-11-07T02:30:00Z", "2010-11-08T03:30:00Z")  # 25 h
    at = datetime(2010, 11, 7, 3, tzinfo=UTC)
    assert at.astimezone(sj).date() == date(2010, 11, 6) and c.is_open(at)
    # compare in UTC: Python's == between zones is always False for a datetime in a repeated hour (PEP 495)
    assert c.next_opening(at) != at and z(c.next_opening(at)) == z(at)
    assert c.business_time_between(at, at + H) == H
    assert z(c.add_business_time(datetime(2010, 11, 6, 12, tzinfo=sj), 25 * H)) == z(e)  # used up at its end


def test_date_range_limits_raise_invalid_input():
    c = cal(SH, "mon-fri 09:00-18:00")
    with pytest.raises(InvalidInput) as exc:
        c.add_business_time(datetime(9999, 12, 30, 1, tzinfo=UTC), 100 * H)
    assert exc.value.field == "duration" and "9999" in exc.value.problem
    with pytest.raises(InvalidInput) as exc:
        c.next_opening(datetime(9999, 12, 31, 12, tzinfo=UTC))  # Fri 31 Dec 9999 20:00 +08: no later opening
    assert exc.value.field == "instant"


def test_nth_working_day_skips_days_off_and_counts_make_up_days():
    fri, sat, mon = date(2026, 3, 6), date(2026, 3, 7), date(2026, 3, 9)
    c = cal(SH, "mon-fri 09:00-12:00,13:00-18:00", days_off={mon}, working_days={sat})
    start = datetime(2026, 3, 5, 17, 0, tzinfo=SH)  # Thursday
    assert [p[0][0].date() for p in (c.nth_working_day(start, n) for n in (1, 2, 3))] == [
        fri, sat, date(2026, 3, 10)]  # the make-up Saturday counts, the Monday off does not
    first = c.nth_working_day(start, 1)
    assert (first[0][0].hour, first[-1][1].hour) == (9, 18) and len(first) == 2
    assert cal(SH, "mon 09:00-10:00", days_off=set()).nth_working_day(start, 1, search_days=2) == []  # Fri-Sun
    with pytest.raises(InvalidInput):
        c.nth_working_day(start, 0)
