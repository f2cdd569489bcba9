"""Business calendars: working periods per weekday, closed days, make-up working days, business-time arithmetic.

Pure standard library (``zoneinfo``); no clock reads, no holiday data: the
caller passes closed days and make-up working days as fixed sets or as
per-year providers (``integrations.calendars`` builds them from ``holidays``).

Rules (tested in ``tests/unit/test_calendar*.py``):

- **Inputs.** Every instant must be an aware ``datetime`` (a naive one raises
  :class:`InvalidInput` naming the argument); durations are ``timedelta`` and
  must not be negative. Results are aware datetimes in the calendar's zone.
  Note: Python compares and subtracts two datetimes that share a ``tzinfo`` by
  wall time, ignoring the UTC offset and ``fold``, and ``==`` across zones is
  always False for a time in a repeated hour (PEP 495); convert results to
  UTC before comparing or subtracting them.
- **Periods.** A period ``(start, end)`` is wall-clock time of one day with
  ``start < end``; :data:`END_OF_DAY` (``time.max``, written "24:00") as the end
  means the next midnight. A period is open on ``[start, end)``. A night shift
  is two periods: ``22:00-24:00`` and ``00:00-06:00`` of the next weekday.
- **Which periods a date has (precedence).** An explicit working day (make-up
  day) gets ``makeup_periods``, whatever its weekday and even if it is also a
  day off; otherwise a day off has none; otherwise the weekday's periods.
- **DST.** Elapsed time is real (UTC) time. A wall time is placed at the
  first instant the local clock reads at least that time: in a repeated hour
  that is the first occurrence; in a skipped hour it is the moment of the
  change. So a period containing a skipped or repeated hour counts its real
  length (Berlin, Sun 2026-03-29: ``01:00-04:00`` is 2 h, on 2026-10-25 it is
  4 h; ``09:00-18:00`` is 9 h on both days); a period wholly inside a skipped
  hour vanishes.
- **Adding business time.** N business hours from a start end at the instant
  the N-th hour is used up, which may be exactly a closing time (18:00, not
  09:00 next morning). From a closed instant counting begins at the next
  opening. Adding zero returns the start unchanged (converted to the calendar
  zone), even when the office is closed: nothing has to be used up.
- **Guard.** A search that meets more than :data:`MAX_CLOSED_DAYS` consecutive
  days without working time raises :class:`InvalidInput` ("calendar") instead
  of looping forever.
- **Cost.** Adding and measuring business time bisect a per-year index of the working periods
  (:mod:`closeloop.domain.calendar_index`, built once per calendar and year): O(log n) per call however
  far apart the instants are. The walk over whole periods and days (never minutes) is the reference
  the index is tested against, and the path taken for a year without any working time (so that the
  guard below raises as it always did).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import ParamSpec, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .calendar_index import YearIndex, from_us, to_us
from .errors import InvalidInput
from .hours import END_OF_DAY, Period, check_periods, format_hours
from .machine import require_aware

_P = ParamSpec("_P")
_R = TypeVar("_R")

MAX_CLOSED_DAYS = 3 * 366
"""Consecutive days without working time after which a search gives up (about three years)."""

_UTC = UTC
_ZERO = timedelta(0)
_ONE_DAY = timedelta(days=1)
_TICK = timedelta(microseconds=1)  # the resolution of datetime: bisection step, and unit of the year index
_CACHE_SIZE = 4096

YearDates = Callable[[int], Collection[date]] | Collection[date]


def _year_provider(value: YearDates, field: str) -> Callable[[int], frozenset[date]]:
    """A per-year lookup (cached) from a provider function or a fixed collection of dates."""
    def checked(dates: Collection[date]) -> frozenset[date]:
        for d in dates:
            if isinstance(d, datetime) or not isinstance(d, date):
                raise InvalidInput(field, f"expected datetime.date values, got {d!r}")
        return frozenset(dates)

    if callable(value):
        cache: dict[int, frozenset[date]] = {}

        def get(year: int) -> frozenset[date]:
            got = cache.get(year)
            if got is None:
                got = cache[year] = checked(value(year))
            return got
        return get
    by_year: dict[int, set[date]] = {}
    for d in checked(value):
        by_year.setdefault(d.year, set()).add(d)
    frozen = {y: frozenset(s) for y, s in by_year.items()}
    empty: frozenset[date] = frozenset()
    return lambda year: frozen.get(year, empty)


def _in_range(field: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Turn ``OverflowError`` (arithmetic past year 9999 or before year 1) into ``InvalidInput(field)``."""
    def wrap(method: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(method)
        def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            try:
                return method(*args, **kwargs)
            except OverflowError:
                raise InvalidInput(field, "outside the supported date range (years 1 to 9999)") from None
        return run
    return wrap


def _zone(zone: str | ZoneInfo) -> ZoneInfo:
    if isinstance(zone, ZoneInfo):
        return zone
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):
        raise InvalidInput("zone", f"unknown time zone {zone!r}; use an IANA name such as Asia/Shanghai") from None


class BusinessCalendar:
    """Working periods of a time zone; see the module docstring for the rules.

    ``weekly`` maps weekday (0 = Monday .. 6 = Sunday) to periods; a missing
    weekday is closed. ``days_off`` and ``working_days`` are fixed collections
    of dates or functions ``year -> dates of that year`` (called once per year
    and cached). ``makeup_periods`` defaults to the periods of the first weekday
    (Monday first) that has any. Invalid arguments raise :class:`InvalidInput`
    naming the argument ("zone", "weekly[3]", "makeup_periods", ...).
    """

    def __init__(self, zone: str | ZoneInfo, weekly: Mapping[int, Sequence[Period]],
                 days_off: YearDates = (), working_days: YearDates = (),
                 makeup_periods: Sequence[Period] | None = None, name: str = ""):
        self.zone: ZoneInfo = _zone(zone)
        self.name: str = name
        table: list[tuple[Period, ...]] = [()] * 7
        for wd, periods in weekly.items():
            if isinstance(wd, bool) or not isinstance(wd, int) or not 0 <= wd <= 6:
                raise InvalidInput("weekly", f"weekday keys are 0 (Monday) to 6 (Sunday), got {wd!r}")
            table[wd] = check_periods(periods, f"weekly[{wd}]")
        self._weekly = tuple(table)
        self._makeup = (next((p for p in self._weekly if p), ()) if makeup_periods is None
                        else check_periods(makeup_periods, "makeup_periods"))
        self._days_off = _year_provider(days_off, "days_off")
        self._working = _year_provider(working_days, "working_days")
        self._cache: dict[date, tuple[tuple[datetime, datetime], ...]] = {}
        self._years: dict[int, YearIndex] = {}

    def __repr__(self) -> str:
        return f"BusinessCalendar(name={self.name!r}, zone={self.zone.key!r}, hours={format_hours(self.weekly)!r})"

    @property
    def weekly(self) -> dict[int, list[Period]]:
        """The weekly table (weekdays with periods only)."""
        return {d: list(p) for d, p in enumerate(self._weekly) if p}

    @property
    def makeup_periods(self) -> list[Period]:
        """Periods of a make-up working day."""
        return list(self._makeup)

    # ----------------------------------------------------------------- days
    def _wall_periods(self, day: date) -> tuple[Period, ...]:
        if day in self._working(day.year):
            return self._makeup
        if day in self._days_off(day.year):
            return ()
        return self._weekly[day.weekday()]

    def _first_instant(self, day: date, t: time) -> datetime:
        """UTC instant at which the local clock first reads ``t`` (or later) on ``day``."""
        wall = datetime.combine(day, t)
        first = wall.replace(tzinfo=self.zone)  # fold=0: the earlier of two occurrences
        utc = first.astimezone(_UTC)
        if utc.astimezone(self.zone).replace(tzinfo=None) == wall:
            return utc
        # ``wall`` was skipped (spring forward): find the change by bisection, to the microsecond.
        lo, hi = first.replace(fold=1).astimezone(_UTC), utc
        if lo > hi:
            lo, hi = hi, lo
        while hi - lo > _TICK:
            mid = lo + (hi - lo) // 2
            if mid.astimezone(self.zone).replace(tzinfo=None) >= wall:
                hi = mid
            else:
                lo = mid
        return hi

    def _utc_periods(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        hit = self._cache.get(day)
        if hit is not None:
            return hit
        out = []
        for start, end in self._wall_periods(day):
            s = self._first_instant(day, start)
            e = self._first_instant(day + _ONE_DAY, time(0)) if end == END_OF_DAY else self._first_instant(day, end)
            if s < e:  # a period wholly inside a skipped hour vanishes
                out.append((s, e))
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        result = self._cache[day] = tuple(out)
        return result

    def _local_date(self, utc: datetime) -> date:
        return utc.astimezone(self.zone).date()

    def _local_year(self, utc: datetime) -> int:
        """The local year of the UTC instant ``utc`` (a zone's offset is under a day: February to November
        are the same year everywhere, so only the first and last month are converted)."""
        return utc.year if 1 < utc.month < 12 else utc.astimezone(self.zone).year

    def _iter_periods(self, after: datetime) -> Iterator[tuple[datetime, datetime]]:
        """UTC periods, in order, that end after the UTC instant ``after``; raises when none come for years."""
        day = self._local_date(after) - _ONE_DAY
        closed = 0
        while True:
            periods = self._utc_periods(day)
            if periods:
                closed = 0
            else:
                closed += 1
                if closed > MAX_CLOSED_DAYS:
                    label = f"calendar {self.name!r}" if self.name else "the calendar"
                    raise InvalidInput("calendar", f"{label} has no working time in the {MAX_CLOSED_DAYS} "
                                                   f"days up to {day.isoformat()}")
            for p in periods:
                if p[1] > after:
                    yield p
            day += _ONE_DAY

    def _utc(self, value: datetime, name: str) -> datetime:
        if value.__class__ is datetime and value.tzinfo is _UTC:
            return value  # already UTC (most instants the engine passes)
        return require_aware(value, name).astimezone(_UTC)

    # ----------------------------------------------------------------- public
    @_in_range("day")
    def periods_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """Open periods of the local date ``day`` as aware datetimes in the calendar zone; ``[]`` when closed.

        Precedence: make-up working day (``makeup_periods``) > day off (none) > weekly table.
        """
        if isinstance(day, datetime) or not isinstance(day, date):
            raise InvalidInput("day", f"expected a datetime.date, got {type(day).__name__}")
        return [(s.astimezone(self.zone), e.astimezone(self.zone)) for s, e in self._utc_periods(day)]

    @_in_range("instant")
    def nth_working_day(self, instant: datetime, n: int, *,
                        search_days: int = 3 * 366) -> list[tuple[datetime, datetime]]:
        """Open periods of the ``n``-th working day after ``instant``'s local day (``n >= 1``; make-up days
        count, days off do not); ``[]`` when none lies within ``search_days`` (a calendar that never opens).
        Callers take ``[0][0]`` (its first opening) or ``[-1][1]`` (its close)."""
        if n < 1:
            raise InvalidInput("n", "must be at least 1")
        day = self._local_date(self._utc(instant, "instant"))
        found = 0
        for _ in range(search_days + n):
            day += _ONE_DAY
            periods = self.periods_on(day)
            if periods:
                found += 1
                if found >= n:
                    return periods
        return []

    @_in_range("instant")
    def is_open(self, instant: datetime) -> bool:
        """Whether ``instant`` (aware) lies in a working period, ``[start, end)``: open at 09:00, closed at 18:00."""
        t = self._utc(instant, "instant")
        d = self._local_date(t)
        return any(s <= t < e for day in (d - _ONE_DAY, d, d + _ONE_DAY) for s, e in self._utc_periods(day))

    @_in_range("instant")
    def next_opening(self, instant: datetime) -> datetime:
        """``instant`` itself (in the calendar zone) if open, else the start of the next period."""
        t = self._utc(instant, "instant")
        for s, _ in self._iter_periods(t):
            return max(s, t).astimezone(self.zone)
        raise AssertionError("unreachable")  # pragma: no cover - _iter_periods never ends without raising

    @_in_range("duration")
    def add_business_time(self, start: datetime, duration: timedelta, *, utc: bool = False) -> datetime:
        """The instant at which ``duration`` of business time counted from ``start`` is used up.

        Counting begins at ``start`` if open, else at the next opening; the
        result may be exactly a closing time. A zero ``duration`` returns
        ``start`` unchanged (in the calendar zone). Raises :class:`InvalidInput`
        for a naive ``start`` ("start"), a negative or non-timedelta
        ``duration`` ("duration"), a result outside years 1-9999 ("duration") or
        a calendar without working time ("calendar"). ``utc``: the result in UTC instead.
        """
        return self.add_business_times(start, (duration,), utc=utc)[0]

    def _year(self, year: int) -> YearIndex | None:
        """The index of the local ``year`` (built once), or None outside years 1-9998 (the walk then
        reports the range) or for a year without working time (the walk's guard decides)."""
        if not 1 <= year <= 9998:
            return None
        idx = self._years.get(year)
        if idx is None:
            day, last = date(year, 1, 1), date(year, 12, 31)
            periods: list[tuple[datetime, datetime]] = []
            while day <= last:
                periods.extend(self._utc_periods(day))
                day += _ONE_DAY
            idx = self._years[year] = YearIndex.build(periods)
        return idx if idx.total else None

    def _added(self, s: datetime, todo: list[tuple[timedelta, int]], out: list[datetime], utc: bool) -> bool:
        """Fill ``out`` for the ascending ``todo`` from the UTC ``s`` by the year indexes; False when a year
        on the way has no index (the caller walks instead)."""
        year = self._local_year(s)
        idx = self._year(year)
        if idx is None:
            return False
        pos = idx.elapsed(to_us(s))  # the start, in business microseconds of ``year``
        for d, i in todo:
            need = pos + d // _TICK
            while need > idx.total:
                pos, need, year = pos - idx.total, need - idx.total, year + 1
                nxt = self._year(year)
                if nxt is None:
                    return False
                idx = nxt
            out[i] = from_us(idx.instant(need)) if utc else from_us(idx.instant(need)).astimezone(self.zone)
        return True

    @_in_range("duration")
    def add_business_times(self, start: datetime, durations: Sequence[timedelta], *,
                           utc: bool = False) -> list[datetime]:
        """:meth:`add_business_time` for each of ``durations`` from one ``start`` (an escalation ladder, a
        chain of pages, reminder thresholds): the results in the order of ``durations`` (any order), in the
        calendar zone (``utc``: in UTC, the form the engine stores). Same errors as :meth:`add_business_time`."""
        s = self._utc(start, "start")
        for d in durations:
            if not isinstance(d, timedelta):
                raise InvalidInput("duration", f"expected a timedelta, got {type(d).__name__}")
            if d < _ZERO:
                raise InvalidInput("duration", f"must not be negative, got {d}")
        out: list[datetime] = [s if utc else s.astimezone(self.zone)] * len(durations)
        todo = sorted((d, i) for i, d in enumerate(durations) if d)
        if not todo or self._added(s, todo, out, utc):
            return out
        found = self._walk_add(s, todo, out)
        return [at.astimezone(_UTC) for at in found] if utc else found

    def _walk_add(self, s: datetime, todo: list[tuple[timedelta, int]], out: list[datetime]) -> list[datetime]:
        """The reference: one walk over the working periods from the UTC ``s``."""
        used, k = _ZERO, 0
        for ps, pe in self._iter_periods(s):
            begin = max(ps, s)
            available = pe - begin
            while k < len(todo) and todo[k][0] - used <= available:
                out[todo[k][1]] = (begin + (todo[k][0] - used)).astimezone(self.zone)
                k += 1
            if k == len(todo):
                return out
            used += available
        raise AssertionError("unreachable")  # pragma: no cover - _iter_periods never ends without raising

    @_in_range("end")
    def business_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Business time in ``[start, end)``, measured in real (UTC) time; zero if ``end <= start``."""
        s, e = self._utc(start, "start"), self._utc(end, "end")
        if e <= s:
            return _ZERO
        first, last = self._local_year(s), self._local_year(e)
        years = [self._year(y) for y in range(first, last + 1)]
        if all(years):
            a, b = years[0], years[-1]
            assert a is not None and b is not None
            used = b.elapsed(to_us(e)) - a.elapsed(to_us(s)) + sum(y.total for y in years[:-1] if y)
            return timedelta(microseconds=used)
        return self._walk_between(s, e)

    def _walk_between(self, s: datetime, e: datetime) -> timedelta:
        """The reference: business time in ``[s, e)`` (UTC, ``s < e``) summed day by day."""
        total = _ZERO
        day, last = self._local_date(s) - _ONE_DAY, self._local_date(e) + _ONE_DAY
        while day <= last:
            for ps, pe in self._utc_periods(day):
                lo, hi = max(ps, s), min(pe, e)
                if hi > lo:
                    total += hi - lo
            day += _ONE_DAY
        return total
