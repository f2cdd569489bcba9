"""Property tests of BusinessCalendar over random calendars, zones (many with DST), holidays, instants, durations.

Zones include unusual DST rules: Lord Howe (30-minute shift), Chatham (+12:45/+13:45),
Santiago (changes at midnight, falling back from Sunday into Saturday), Havana
(midnight gap), Dublin (negative DST). Comparisons are made in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from closeloop.domain.calendar import BusinessCalendar
from closeloop.domain.hours import END_OF_DAY

UTC = UTC
ZONES = ["UTC", "Asia/Shanghai", "Asia/Kolkata", "Asia/Riyadh", "Australia/Brisbane", "Europe/Berlin",
         "America/New_York", "Australia/Sydney", "Australia/Lord_Howe", "Pacific/Chatham", "America/Santiago",
         "America/Havana", "Europe/Dublin"]
SETTINGS = settings(max_examples=200, deadline=None, database=None)
LO, HI = datetime(2025, 12, 1, tzinfo=UTC), datetime(2027, 2, 1, tzinfo=UTC)
US = timedelta(microseconds=1)


def _time(minute: int) -> time:
    return END_OF_DAY if minute == 1440 else time(minute // 60, minute % 60)


@st.composite
def day_periods(draw, lo: int = 0, hi: int = 1440, step: int = 15) -> list[tuple[time, time]]:
    """0-3 periods (split shifts) with boundaries on a ``step``-minute grid in [lo, hi]."""
    marks = sorted(draw(st.lists(st.integers(lo // step, hi // step), unique=True, max_size=6)))
    marks = marks[: len(marks) // 2 * 2]
    return [(_time(marks[i] * step), _time(marks[i + 1] * step)) for i in range(0, len(marks), 2)]


@st.composite
def calendars(draw, lo: int = 0, hi: int = 1440, step: int = 15):
    """A random calendar and the spec it was built from (for the brute-force oracle)."""
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    weekly = {d: p for d in range(7) if (p := draw(day_periods(lo, hi, step)))}  # sparse weekdays allowed
    if not weekly:
        weekly[draw(st.integers(0, 6))] = [(_time(lo + 60), _time(lo + 180))]
    days = st.dates(date(2025, 11, 1), date(2027, 3, 1))
    off = draw(st.sets(days, max_size=25))
    work = draw(st.sets(days, max_size=8))
    makeup = draw(st.none() | day_periods(lo, hi, step).filter(bool))
    days_off = off if draw(st.booleans()) else (lambda y: {d for d in off if d.year == y})
    cal = BusinessCalendar(zone, weekly, days_off=days_off, working_days=work, makeup_periods=makeup)
    return cal, (weekly, off, work, makeup)


@st.composite
def instants(draw, cal: BusinessCalendar) -> datetime:
    """Uniform instants, or local wall times on period boundaries and DST-prone hours (either fold)."""
    if draw(st.booleans()):
        micros = draw(st.integers(0, int((HI - LO) / US)))
        return LO + micros * US
    day = draw(st.dates(LO.date() + timedelta(days=2), HI.date() - timedelta(days=2)))
    bounds = [t for ps in cal.weekly.values() for p in ps for t in p if t != END_OF_DAY]
    t = draw(st.sampled_from(bounds + [time(0), time(1), time(2), time(2, 30), time(3)]))
    return datetime.combine(day, t, tzinfo=cal.zone).replace(fold=draw(st.integers(0, 1)))


durations = st.one_of(st.just(timedelta(0)), st.integers(1, 80 * 4).map(lambda q: q * timedelta(minutes=15)),
                      st.integers(1, 80 * 3600 * 10**6).map(lambda us: us * US))


def utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)


@SETTINGS
@given(st.data())
def test_elapsed_undoes_addition(data):
    cal, _ = data.draw(calendars())
    start, d = data.draw(instants(cal)), data.draw(durations)
    due = cal.add_business_time(start, d)
    assert due.tzinfo is cal.zone
    assert cal.business_time_between(start, due) == d
    assert utc(due) >= utc(start)


@SETTINGS
@given(st.data())
def test_adding_in_two_steps_equals_adding_once(data):
    cal, _ = data.draw(calendars())
    start, d1, d2 = data.draw(instants(cal)), data.draw(durations), data.draw(durations)
    add = cal.add_business_time
    assert utc(add(add(start, d1), d2)) == utc(add(start, d1 + d2))


@SETTINGS
@given(st.data())
def test_due_is_open_or_exactly_a_closing_time(data):
    cal, _ = data.draw(calendars())
    start, d = data.draw(instants(cal)), data.draw(durations.filter(bool))
    due = cal.add_business_time(start, d)
    assert utc(due) > utc(start)
    local = due.date()
    closings = {utc(e) for i in (-1, 0, 1) for _, e in cal.periods_on(local + timedelta(days=i))}
    assert cal.is_open(due) or utc(due) in closings
    assert cal.is_open(due - US)  # the last microsecond used was business time


@SETTINGS
@given(st.data())
def test_monotonic_in_duration(data):
    cal, _ = data.draw(calendars())
    start = data.draw(instants(cal))
    d1, d2 = sorted([data.draw(durations), data.draw(durations)])
    a, b = utc(cal.add_business_time(start, d1)), utc(cal.add_business_time(start, d2))
    assert a < b if d1 < d2 else a == b


@SETTINGS
@given(st.data())
def test_next_opening_and_additivity(data):
    cal, _ = data.draw(calendars())
    a, b, c = sorted((data.draw(instants(cal)) for _ in range(3)), key=utc)
    nxt = cal.next_opening(a)
    assert nxt.tzinfo is cal.zone and utc(nxt) >= utc(a) and cal.is_open(nxt)
    assert cal.business_time_between(a, nxt) == timedelta(0)
    assert cal.is_open(a) == (utc(nxt) == utc(a))
    assert cal.business_time_between(a, b) + cal.business_time_between(b, c) == cal.business_time_between(a, c)
    assert cal.business_time_between(c, a) == timedelta(0) or utc(a) == utc(c)


def _oracle_minutes(spec, zone: ZoneInfo, start: datetime, minutes: int) -> int:
    """Brute force, independent of the implementation: step minute by minute in UTC and compare the
    local wall time with the periods of the local date (working day > day off > weekly)."""
    weekly, off, work, makeup = spec
    makeup = makeup if makeup is not None else next(weekly[d] for d in range(7) if d in weekly)
    count = 0
    for i in range(minutes):
        local = (start + timedelta(minutes=i)).astimezone(zone)
        day, t = local.date(), local.time().replace(tzinfo=None)
        periods = makeup if day in work else [] if day in off else weekly.get(day.weekday(), [])
        count += any(s <= t < e for s, e in periods)
    return count


@settings(max_examples=60, deadline=None, database=None)
@given(st.data())
def test_elapsed_matches_a_minute_by_minute_oracle(data):
    # period boundaries between 04:00 and 22:00 are never skipped or repeated in these zones, so the wall-clock
    # oracle and the real-time rule must agree to the minute, across DST changes too
    cal, spec = data.draw(calendars(lo=4 * 60, hi=22 * 60, step=5))
    dst_days = [datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 3, 28, tzinfo=UTC), datetime(2026, 4, 4, tzinfo=UTC),
                datetime(2026, 9, 5, tzinfo=UTC), datetime(2026, 10, 3, tzinfo=UTC), datetime(2026, 10, 24, tzinfo=UTC),
                datetime(2026, 10, 31, tzinfo=UTC)]
    base = data.draw(st.sampled_from(dst_days) | st.just(datetime(2026, 6, 1, tzinfo=UTC)))
    start = base + timedelta(minutes=data.draw(st.integers(0, 3 * 1440)))
    minutes = data.draw(st.integers(0, 3 * 1440))
    expected = timedelta(minutes=_oracle_minutes(spec, cal.zone, start, minutes))
    assert cal.business_time_between(start, start + timedelta(minutes=minutes)) == expected
    if expected:
        due = cal.add_business_time(start, expected)
        assert utc(due) <= start + timedelta(minutes=minutes)


def test_round_the_clock_calendars_tile_real_time_in_every_zone():
    # every day of 2026 in every zone (midnight gaps in Havana, Sunday->Saturday fall-back in Santiago):
    # 00:00-24:00 periods are contiguous in UTC and add up to the real length of the year
    for key in ZONES:
        zone = ZoneInfo(key)
        cal = BusinessCalendar(zone, {d: [(time(0), END_OF_DAY)] for d in range(7)})
        start, end = datetime(2026, 1, 1, tzinfo=zone), datetime(2027, 1, 1, tzinfo=zone)
        assert cal.business_time_between(start, end) == utc(end) - utc(start), key
        day, previous_end = date(2026, 1, 1), utc(start)
        while day.year == 2026:
            [(s, e)] = cal.periods_on(day)
            assert utc(s) == previous_end and timedelta(hours=22) <= utc(e) - utc(s) <= timedelta(hours=26), (key, day)
            previous_end, day = utc(e), day + timedelta(days=1)
        assert cal.is_open(start) and cal.next_opening(start) == start


@SETTINGS
@given(st.data())
def test_several_durations_in_one_walk_equal_one_walk_each(data):
    """``add_business_times`` (the ladder, the pages, the reminders in one walk) gives, in the caller's order,
    what :meth:`add_business_time` gives for each duration alone (each checked against the oracle above)."""
    cal, _ = data.draw(calendars())
    start = data.draw(instants(cal))
    durations = data.draw(st.lists(st.integers(0, 60 * 24 * 20).map(lambda m: timedelta(minutes=m)), max_size=6))
    together = cal.add_business_times(start, durations)
    assert [t.astimezone(UTC) for t in together] == [cal.add_business_time(start, d).astimezone(UTC)
                                                       for d in durations]
