"""Business calendars with holiday data from the ``holidays`` package (outside the pure domain).

Days off are the country's (and subdivision's) holidays of the ``PUBLIC``
category only: observances that are not days off (St. Martin's Day,
Volkstrauertag in Germany) are in other categories or absent, and never close
the office. Make-up working days are the package's ``weekend_workdays`` (China's
调休 Saturdays and Sundays; also Belarus, Vietnam, Uzbekistan ...; empty for most
countries). Configuration adds ``extra_closed`` and ``extra_open`` dates; an
explicit ``extra_open`` date beats a holiday, an ``extra_closed`` date beats a
make-up day. The package data is loaded once per (country, subdivision, year).

Errors are :class:`InvalidInput` naming the field: "timezone", "hours",
"country", "subdivision", "extra_closed", "extra_open", "year".
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from holidays.registry import EntityLoader

from closeloop.domain.calendar import BusinessCalendar
from closeloop.domain.errors import InvalidInput
from closeloop.domain.hours import Period, parse_hours


def resolve_zone(zone: str) -> ZoneInfo:
    """The IANA zone ``zone``; raises ``InvalidInput("timezone", ...)`` when unknown."""
    if isinstance(zone, ZoneInfo):
        return zone
    try:
        if not isinstance(zone, str):
            raise TypeError
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, OSError, TypeError):
        raise InvalidInput("timezone", f"unknown time zone {zone!r}; use an IANA name such as Asia/Shanghai "
                                       "or Europe/Berlin") from None


def weekly_hours(hours: str | Mapping) -> dict[int, list[Period]]:
    """Working hours from a :func:`parse_hours` string, a mapping of day spec to periods
    (``{"mon-fri": "09:00-12:00,13:00-18:00"}`` or ``{"sat": ["10:00-14:00"]}``), or a
    ready weekly table ``{0: [(time, time), ...]}``."""
    if isinstance(hours, str):
        return parse_hours(hours)
    if isinstance(hours, Mapping):
        if all(isinstance(k, int) and not isinstance(k, bool) for k in hours):
            return {k: list(v) for k, v in hours.items()}
        if all(isinstance(k, str) for k in hours):
            parts = [f"{k} {v if isinstance(v, str) else ','.join(v)}" for k, v in hours.items()]
            return parse_hours("; ".join(parts))
    raise InvalidInput("hours", f"expected a string like 'mon-fri 09:00-18:00' or a mapping, got {hours!r}")


@lru_cache(maxsize=1)
def _supported() -> frozenset[str]:
    # The registry's codes, aliases included. ``holidays.list_supported_countries`` gives the same
    # keys but imports every country's module to list subdivisions (about 0.15 s per process).
    return frozenset(EntityLoader.get_country_codes(include_aliases=True))


def resolve_region(country: str, subdivision: str | None = None) -> tuple[str, str | None]:
    """Canonical ``(country, subdivision)`` codes; case-insensitive, subdivision names or aliases accepted."""
    code = country.strip().upper() if isinstance(country, str) else ""
    if code not in _supported():
        raise InvalidInput("country", f"unknown or unsupported country {country!r}; use an ISO 3166-1 code "
                                      "such as CN, DE or US")
    cls = type(holidays.country_holidays(code, years=()))
    code = getattr(cls, "country", code)  # alpha-3 aliases -> alpha-2
    if subdivision is None or subdivision == "":
        return code, None
    known: dict[str, str] = {s.lower(): s for s in cls.subdivisions}
    known.update({alias.lower(): s for alias, s in getattr(cls, "subdivisions_aliases", {}).items()})
    found = known.get(subdivision.strip().lower())
    if found is None:
        listed = ", ".join(cls.subdivisions[:40]) + (", ..." if len(cls.subdivisions) > 40 else "")
        raise InvalidInput("subdivision", f"unknown subdivision {subdivision!r} of {code}; "
                                          + (f"use one of {listed}" if listed else f"{code} has none"))
    return code, found


@lru_cache(maxsize=512)
def _year_data(country: str, subdivision: str | None,
               year: int) -> tuple[tuple[tuple[date, str], ...], frozenset[date]]:
    """(public holidays of ``year``, the package's weekend_workdays as recorded while loading ``year``).

    The second set also holds dates of other years (the package records, e.g.,
    China's make-up days of late December 2001 that belong to 2002's New Year
    with every year); callers filter by year.
    """
    h = holidays.country_holidays(country, subdiv=subdivision, years=year, categories=(holidays.PUBLIC,))
    days_off = tuple(sorted((d, name) for d, name in h.items() if d.year == year))
    return days_off, frozenset(getattr(h, "weekend_workdays", ()) or ())


def _makeup_days(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    return frozenset(d for d in _year_data(country, subdivision, year)[1] if d.year == year)


def _check_year(year: int) -> int:
    if isinstance(year, bool) or not isinstance(year, int) or not 1 <= year <= 9998:
        raise InvalidInput("year", f"expected a year between 1 and 9998, got {year!r}")
    return year


def _dates(values: Collection[date], field: str) -> frozenset[date]:
    for d in values:
        if isinstance(d, datetime) or not isinstance(d, date):
            raise InvalidInput(field, f"expected dates, got {d!r}")
    return frozenset(values)


def holiday_calendar(zone: str, hours: str | Mapping, country: str | None = None,
                     subdivision: str | None = None, extra_closed: Collection[date] = (),
                     extra_open: Collection[date] = (), name: str = "") -> BusinessCalendar:
    """A :class:`BusinessCalendar` in ``zone`` with ``hours``, closed on the public holidays of
    ``country``/``subdivision`` and ``extra_closed``, open on the package's make-up working days and
    ``extra_open`` (with the periods of the first weekday that has any, normally Monday).

    Without ``country`` only the extra dates apply. A date in both extra lists is an error.
    """
    zi = resolve_zone(zone)
    weekly = weekly_hours(hours)
    closed, opened = _dates(extra_closed, "extra_closed"), _dates(extra_open, "extra_open")
    if both := sorted(closed & opened):
        raise InvalidInput("extra_open", f"{both[0].isoformat()} is also in extra_closed")
    if not country:
        if subdivision:
            raise InvalidInput("subdivision", "a subdivision needs a country")
        return BusinessCalendar(zi, weekly, days_off=closed, working_days=opened, name=name or zi.key)
    code, sub = resolve_region(country, subdivision)

    def days_off(year: int) -> frozenset[date]:
        public = {d for d, _ in _year_data(code, sub, year)[0]}
        return frozenset(public | {d for d in closed if d.year == year})

    def working_days(year: int) -> frozenset[date]:
        return frozenset((_makeup_days(code, sub, year) - closed) | {d for d in opened if d.year == year})

    label = name or f"{code}{'-' + sub if sub else ''} {zi.key}"
    return BusinessCalendar(zi, weekly, days_off=days_off, working_days=working_days, name=label)


#: The name a configured ``extra_closed`` date is listed with (it has none of its own).
CONFIGURED_CLOSED = "closed (configuration: extra_closed)"


def calendar_year_listing(country: str | None, subdivision: str | None, year: int,
                          extra_closed: Collection[date] = (),
                          extra_open: Collection[date] = ()) -> tuple[list[tuple[date, str]], list[date]]:
    """``(days off as (date, name), adjusted working days)`` of ``year``, each sorted by date, as
    :func:`holiday_calendar` counts them: the public holidays of ``country``/``subdivision`` (none without a
    country) and the ``extra_closed`` dates (named :data:`CONFIGURED_CLOSED`) less the ``extra_open`` ones; the
    package's make-up working days less ``extra_closed``, and ``extra_open``. Raises ``InvalidInput`` naming
    "country", "subdivision", "year", "extra_closed" or "extra_open"."""
    public: list[tuple[date, str]] = []
    makeup: frozenset[date] = frozenset()
    if country:
        code, sub = resolve_region(country, subdivision)
        _check_year(year)
        public, makeup = list(_year_data(code, sub, year)[0]), _makeup_days(code, sub, year)
    elif subdivision:
        raise InvalidInput("subdivision", "a subdivision needs a country")
    _check_year(year)
    closed = {d for d in _dates(extra_closed, "extra_closed") if d.year == year}
    opened = {d for d in _dates(extra_open, "extra_open") if d.year == year}
    named = {d for d, _ in public}
    days_off = [(d, n) for d, n in public if d not in opened] + [(d, CONFIGURED_CLOSED) for d in closed - named]
    return sorted(days_off), sorted((makeup - closed) | opened)
