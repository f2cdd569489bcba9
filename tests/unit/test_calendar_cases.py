"""CASES.md kind K1 (C01, C03, C04, C06) and the holiday-backed calendars of integrations.calendars.

The expected values are those of CASES.md; each "wrong value to catch" is
asserted as not equal, and where cheap the mistake that produces it is rebuilt
to show that it really does produce that value.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest

from closeloop.domain.calendar import BusinessCalendar
from closeloop.domain.errors import InvalidInput
from closeloop.domain.hours import parse_hours
from integrations.calendars import calendar_year_listing, holiday_calendar, resolve_region

UTC = UTC
H = timedelta(hours=1)
SH, BER, RUH, IST = (ZoneInfo(k) for k in ("Asia/Shanghai", "Europe/Berlin", "Asia/Riyadh", "Asia/Kolkata"))
CN_HOURS = "mon-fri 09:00-18:00"


def cn() -> BusinessCalendar:
    """The CASES.md default "CN calendar"."""
    return holiday_calendar("Asia/Shanghai", CN_HOURS, "CN")


def iso(dt: datetime) -> str:
    return dt.isoformat()


def z(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ------------------------------------------------------------------ C01
def test_c01_observances_do_not_close_the_office():
    c = holiday_calendar("Europe/Berlin", "mon-fri 09:00-21:00", "DE", "BE")
    created = datetime(2026, 11, 10, 10, tzinfo=BER)
    # Tue 11 h, Wed 11 Nov 12 h, Thu 12 h, Fri 12 h = 47 h; the 48th hour is Mon 16 Nov 09:00-10:00
    due = c.add_business_time(created, 48 * H)
    assert iso(due) == "2026-11-16T10:00:00+01:00" and z(due) == "2026-11-16T09:00:00Z"
    wrong = datetime(2026, 11, 17, 10, tzinfo=BER)
    assert due.astimezone(UTC) != wrong.astimezone(UTC)
    # the wrong value is exactly what treating St. Martin's Day as closed gives
    martin_closed = holiday_calendar("Europe/Berlin", "mon-fri 09:00-21:00", "DE", "BE",
                                     extra_closed={date(2026, 11, 11)})
    assert iso(martin_closed.add_business_time(created, 48 * H)) == iso(wrong)
    assert c.business_time_between(created, due) == 48 * H


@pytest.mark.parametrize("state", holidays.Germany.subdivisions)
def test_c01_st_martins_day_is_a_working_day_in_every_german_state(state):
    c = holiday_calendar("Europe/Berlin", "mon-fri 09:00-18:00", "DE", state)
    assert [(s.time(), e.time()) for s, e in c.periods_on(date(2026, 11, 11))] == [(time(9), time(18))]


def test_statutory_regional_days_still_close():
    # Repentance Day (Wed 18 Nov 2026) is statutory in Saxony only; Assumption (catholic category) is not public
    assert holiday_calendar("Europe/Berlin", CN_HOURS, "DE", "SN").periods_on(date(2026, 11, 18)) == []
    assert holiday_calendar("Europe/Berlin", CN_HOURS, "DE", "BE").periods_on(date(2026, 11, 18)) != []
    # other categories of the package never close: China's half days (Children's Day, Mon 1 Jun),
    # German school breaks (Berlin winter break, Mon 2 Feb), US unofficial days (St. Patrick's Day, Tue 17 Mar)
    assert cn().periods_on(date(2026, 6, 1)) != []
    assert holiday_calendar("Europe/Berlin", CN_HOURS, "DE", "BE").periods_on(date(2026, 2, 2)) != []
    us = holiday_calendar("America/New_York", CN_HOURS, "US")
    assert us.periods_on(date(2026, 3, 17)) != [] and us.periods_on(date(2026, 2, 2)) != []


# ------------------------------------------------------------------ C03
def test_c03_cn_2026_holiday_data():
    c = cn()
    for i in range(9):  # Spring Festival days off: Sun 15 Feb .. Mon 23 Feb
        assert c.periods_on(date(2026, 2, 15) + timedelta(days=i)) == []
    for d in ("2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"):
        periods = c.periods_on(date.fromisoformat(d))
        assert [(s.time(), e.time()) for s, e in periods] == [(time(9), time(18))], d
    days_off, makeup = calendar_year_listing("CN", None, 2026)
    assert [d.isoformat() for d in makeup] == ["2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09",
                                               "2026-09-20", "2026-10-10"]
    assert (date(2026, 2, 17), "Chinese New Year (Spring Festival)") in days_off


def test_c03_make_up_saturday_counts():
    c = cn()
    assigned = datetime(2026, 2, 13, 17, 30, tzinfo=SH)
    due8 = c.add_business_time(assigned, 8 * H)  # 0.5 h Friday + 7.5 h on the make-up Saturday
    due16 = c.add_business_time(assigned, 16 * H)  # 0.5 + 9, days off 15-23 Feb, then 6.5 h on Tue 24
    assert iso(due8) == "2026-02-14T16:30:00+08:00"
    assert iso(due16) == "2026-02-24T15:30:00+08:00"
    wrong_no_makeup, wrong_no_holidays = "2026-02-24T16:30:00+08:00", "2026-02-16T16:30:00+08:00"
    assert iso(due8) not in (wrong_no_makeup, wrong_no_holidays)
    assert iso(due16) not in (wrong_no_makeup, wrong_no_holidays)
    # rebuild both mistakes: they give exactly the wrong values
    days_off = [d for d, _ in calendar_year_listing("CN", None, 2026)[0]]
    holidays_only = BusinessCalendar(SH, parse_hours(CN_HOURS), days_off=days_off)
    assert iso(holidays_only.add_business_time(assigned, 8 * H)) == wrong_no_makeup
    weekends_only = BusinessCalendar(SH, parse_hours(CN_HOURS))
    assert iso(weekends_only.add_business_time(assigned, 8 * H)) == wrong_no_holidays


def test_c03_sanity_example():
    assert iso(cn().add_business_time(datetime(2026, 1, 30, 17, 30, tzinfo=SH), 8 * H)) == "2026-02-02T16:30:00+08:00"


def test_make_up_day_recorded_in_the_next_year_is_found():
    # 2002's New Year holiday took Sat 29 / Sun 30 Dec 2001 as working days: a make-up day that belongs to
    # the next year's holiday arrangement must still open the office in 2001.
    c = cn()
    assert c.periods_on(date(2001, 12, 29)) != [] and c.periods_on(date(2001, 12, 30)) != []
    assert c.periods_on(date(2001, 12, 22)) == []  # an ordinary Saturday


# ------------------------------------------------------------------ C04
@pytest.mark.parametrize("created, sla, expected", [
    ((2026, 3, 4, 12, 30), 2, "2026-03-04T15:30:00+08:00"),  # 0.5 h before lunch, 1.5 h after
    ((2026, 3, 4, 13, 20), 1, "2026-03-04T15:00:00+08:00"),  # in the lunch break: counting starts 14:00
    ((2026, 3, 4, 17, 30), 4, "2026-03-05T12:30:00+08:00"),  # 0.5 h Wed, 3.5 h Thu morning
])
def test_c04_split_working_day(created, sla, expected):
    c = holiday_calendar("Asia/Shanghai", "mon-fri 09:00-13:00,14:00-18:00", "CN")
    start = datetime(*created, tzinfo=SH)
    due = c.add_business_time(start, sla * H)
    assert iso(due) == expected
    assert c.business_time_between(start, due) == sla * H


# ------------------------------------------------------------------ C06
@pytest.mark.parametrize("country", [None, "SA"])
def test_c06_riyadh_deadline_rendered_with_an_offset(country):
    c = holiday_calendar("Asia/Riyadh", "sun-thu 09:00-17:00", country)
    created = datetime(2026, 5, 10, 10, tzinfo=RUH)
    due = c.add_business_time(created, timedelta(minutes=30))
    assert iso(due) == "2026-05-10T10:30:00+03:00" and z(due) == "2026-05-10T07:30:00Z"
    shown = due.astimezone(IST)
    assert iso(shown) == "2026-05-10T13:00:00+05:30"
    # the bug: the zone-less "10:30" read as Indian time, 2.5 h early
    assert due.astimezone(UTC) != datetime(2026, 5, 10, 10, 30, tzinfo=IST).astimezone(UTC)
    now = datetime(2026, 5, 10, 10, 5, tzinfo=RUH)
    assert iso(now.astimezone(IST)) == "2026-05-10T12:35:00+05:30"
    assert c.business_time_between(created, now) == timedelta(minutes=5) < timedelta(minutes=30)  # on track
    thu = c.add_business_time(datetime(2026, 5, 14, 16, 45, tzinfo=RUH), timedelta(minutes=30))
    assert iso(thu) == "2026-05-17T09:15:00+03:00"


# ------------------------------------------------------------------ holidays in the other zones
def test_zones_with_their_holidays():
    # Brisbane (QLD): Thu 2 Apr 16:00 + 4 h: 1 h Thu; Good Friday, Easter Sat/Sun/Mon closed; Tue 7 Apr
    # 08:30 + 3 h = 11:30 +10:00 = 01:30Z (no DST in Queensland, though Sydney changed on 5 Apr)
    bne = holiday_calendar("Australia/Brisbane", "mon-fri 08:30-17:00", "AU", "QLD")
    due = bne.add_business_time(datetime(2026, 4, 2, 16, tzinfo=ZoneInfo("Australia/Brisbane")), 4 * H)
    assert iso(due) == "2026-04-07T11:30:00+10:00" and z(due) == "2026-04-07T01:30:00Z"
    # New York (US): Wed 25 Nov 15:00 EST + 4 h: 2 h Wed, Thanksgiving closed, Fri 27 09:00 + 2 h = 16:00Z
    ny = holiday_calendar("America/New_York", "mon-fri 09:00-17:00", "US")
    due = ny.add_business_time(datetime(2026, 11, 25, 15, tzinfo=ZoneInfo("America/New_York")), 4 * H)
    assert iso(due) == "2026-11-27T11:00:00-05:00" and z(due) == "2026-11-27T16:00:00Z"
    # Riyadh (SA): Wed 18 Mar 16:00 + 2 h: 1 h Wed, Eid al-Fitr 19-24 Mar, Wed 25 Mar 09:00 + 1 h
    ruh = holiday_calendar("Asia/Riyadh", "sun-thu 09:00-17:00", "SA")
    assert iso(ruh.add_business_time(datetime(2026, 3, 18, 16, tzinfo=RUH), 2 * H)) == "2026-03-25T10:00:00+03:00"
    # Berlin (DE-BE), after the spring change: Thu 2 Apr 17:00 CEST + 2 h: 1 h Thu; Good Friday,
    # Easter Monday closed; Tue 7 Apr 10:00 CEST = 08:00Z
    ber = holiday_calendar("Europe/Berlin", CN_HOURS, "DE", "BE")
    due = ber.add_business_time(datetime(2026, 4, 2, 17, tzinfo=BER), 2 * H)
    assert iso(due) == "2026-04-07T10:00:00+02:00" and z(due) == "2026-04-07T08:00:00Z"


# ------------------------------------------------------------------ extra dates and precedence
def test_extra_dates_and_their_precedence():
    sat_makeup, spring_festival, sunday = date(2026, 2, 14), date(2026, 2, 17), date(2026, 3, 8)
    c = holiday_calendar("Asia/Shanghai", CN_HOURS, "CN", extra_closed={sat_makeup, date(2026, 3, 4)},
                         extra_open={spring_festival, sunday})
    assert c.periods_on(sat_makeup) == []  # extra_closed beats the package's make-up day
    assert c.periods_on(date(2026, 3, 4)) == []  # an ordinary Wednesday closed by configuration
    assert c.periods_on(spring_festival) != []  # extra_open beats a public holiday
    assert [(s.time(), e.time()) for s, e in c.periods_on(sunday)] == [(time(9), time(18))]
    plain = holiday_calendar("UTC", CN_HOURS, extra_closed={date(2026, 3, 4)}, extra_open={sunday})
    assert plain.periods_on(date(2026, 3, 4)) == [] and plain.periods_on(sunday) != []


@pytest.mark.parametrize("hours", [
    "mon-fri 09:00-12:00,13:00-18:00",
    {"mon-fri": "09:00-12:00,13:00-18:00"},
    {"mon-fri": ["09:00-12:00", "13:00-18:00"]},
    {d: [(time(9), time(12)), (time(13), time(18))] for d in range(5)},
])
def test_hours_as_string_or_mapping(hours):
    c = holiday_calendar("Asia/Shanghai", hours)
    assert c.weekly == parse_hours("mon-fri 09:00-12:00,13:00-18:00")


@pytest.mark.parametrize("kwargs, field", [
    ({"country": "XX"}, "country"),
    ({"country": "DE", "subdivision": "ZZ"}, "subdivision"),
    ({"country": "CN", "subdivision": "BJ"}, "subdivision"),
    ({"subdivision": "BE"}, "subdivision"),
    ({"zone": "Europe/Atlantis"}, "timezone"),
    ({"zone": "Asia"}, "timezone"),
    ({"zone": "../etc/passwd"}, "timezone"),
    ({"hours": "mon-fri 9-18"}, "hours"),
    ({"hours": 42}, "hours"),
    ({"extra_closed": [date(2026, 3, 4)], "extra_open": [date(2026, 3, 4)]}, "extra_open"),
    ({"extra_closed": ["2026-03-04"]}, "extra_closed"),
])
def test_holiday_calendar_errors_name_the_field(kwargs, field):
    args = {"zone": "Europe/Berlin", "hours": CN_HOURS, **kwargs}
    with pytest.raises(InvalidInput) as exc:
        holiday_calendar(**args)
    assert exc.value.field == field


def test_region_codes_are_forgiving():
    assert resolve_region("de", "Berlin") == ("DE", "BE")
    assert resolve_region(" cn ") == ("CN", None)
    assert resolve_region("DEU", "be") == ("DE", "BE")
    with pytest.raises(InvalidInput) as exc:
        calendar_year_listing("CN", None, 0)
    assert exc.value.field == "year"
