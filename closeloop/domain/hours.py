"""Working hours as text and as a weekly table: ``"mon-fri 09:00-12:00,13:00-18:00; sat 10:00-14:00"``.

The configuration's ``hours`` strings are parsed here into the weekly table a
:class:`~closeloop.domain.calendar.BusinessCalendar` takes, and written back for display; the periods of
a day are checked here too (ordered, not overlapping, ending after they start). Pure standard library.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping, Sequence
from datetime import time

from .errors import InvalidInput

Period = tuple[time, time]
"""Wall-clock ``(start, end)`` of one day, ``start < end``; ``end`` may be :data:`END_OF_DAY`."""

END_OF_DAY = time.max
"""End of a period that runs to midnight ("24:00"); ``time(23, 59, 59, 999999)`` means the same."""

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAYS = {n: i for names in (DAY_NAMES, _FULL_NAMES) for i, n in enumerate(names)}
_TIME = re.compile(r"(\d{1,2}):(\d{2})")


def _fmt(t: time) -> str:
    return "24:00" if t == END_OF_DAY else t.strftime("%H:%M") + (t.strftime(":%S") if t.second else "")


def format_hours(weekly: Mapping[int, Sequence[Period]]) -> str:
    """The weekly table in :func:`parse_hours` syntax, runs of equal days as ranges: ``"mon-fri 09:00-18:00"``."""
    parts: list[str] = []
    runs: list[list[int]] = []
    for d in range(7):
        if weekly.get(d):
            if runs and runs[-1][-1] == d - 1 and list(weekly[d]) == list(weekly[runs[-1][0]]):
                runs[-1].append(d)
            else:
                runs.append([d])
    for run in runs:
        days = DAY_NAMES[run[0]] + (f"-{DAY_NAMES[run[-1]]}" if len(run) > 1 else "")
        parts.append(days + " " + ",".join(f"{_fmt(s)}-{_fmt(e)}" for s, e in weekly[run[0]]))
    return "; ".join(parts) or "closed"


def check_periods(periods: Sequence[Period], field: str) -> tuple[Period, ...]:
    """Validate and sort; touching periods are fine, overlapping ones raise :class:`InvalidInput`."""
    out: list[Period] = []
    for p in periods:
        if not (isinstance(p, (tuple, list)) and len(p) == 2 and all(isinstance(t, time) for t in p)):
            raise InvalidInput(field, f"a period is a (start, end) pair of datetime.time, got {p!r}")
        start, end = p
        if start.tzinfo is not None or end.tzinfo is not None:
            raise InvalidInput(field, "period times are wall-clock times of the calendar zone; drop tzinfo")
        if not start < end:
            raise InvalidInput(field, f"period {_fmt(start)}-{_fmt(end)} does not end after it starts "
                                      "(use 24:00/END_OF_DAY for midnight; split night shifts at midnight)")
        out.append((start, end))
    out.sort()
    for (s1, e1), (s2, e2) in itertools.pairwise(out):
        if s2 < e1:
            raise InvalidInput(field, f"periods {_fmt(s1)}-{_fmt(e1)} and {_fmt(s2)}-{_fmt(e2)} overlap")
    return tuple(out)


def _parse_time(text: str, where: str, *, end: bool) -> time:
    m = _TIME.fullmatch(text)
    if not m:
        raise InvalidInput("hours", f"{where}: bad time {text!r}; use HH:MM")
    h, mi = int(m.group(1)), int(m.group(2))
    if end and (h, mi) == (24, 0):
        return END_OF_DAY
    if h > 23 or mi > 59:
        raise InvalidInput("hours", f"{where}: bad time {text!r}; hours 00-23 (24:00 only as an end), minutes 00-59")
    return time(h, mi)


def _parse_days(text: str, where: str) -> list[int]:
    days: list[int] = []
    for item in text.lower().split(","):
        ends = item.split("-")
        if len(ends) > 2 or not all(e in _DAYS for e in ends):
            raise InvalidInput("hours", f"{where}: unknown day or range {item!r}; use mon..sun, e.g. 'mon-fri' "
                                        "or 'mon,wed'")
        first, last = _DAYS[ends[0]], _DAYS[ends[-1]]
        for i in range((last - first) % 7 + 1):  # ranges may wrap: sun-thu
            if (d := (first + i) % 7) not in days:
                days.append(d)
    return days


def parse_hours(spec: str) -> dict[int, list[Period]]:
    """Parse working hours like ``"mon-fri 09:00-12:00,13:00-18:00; sat 10:00-14:00"``.

    Parts are separated by ``;``; each is days (``mon``..``sun`` or full names,
    comma lists, ranges that may wrap such as ``sun-thu``) followed by periods
    ``HH:MM-HH:MM`` separated by commas; ``24:00`` is allowed as an end.
    Returns weekday (0 = Monday) -> sorted periods, for the weekdays named.
    Errors raise ``InvalidInput("hours", ...)`` naming the part and what is wrong;
    overlapping periods on one day (also across parts) are an error.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidInput("hours", "empty; expected e.g. 'mon-fri 09:00-18:00'")
    table: dict[int, list[Period]] = {}
    parts = [p.strip() for p in spec.split(";")]
    for n, part in enumerate(parts, 1):
        if not part:
            if n == len(parts) and n > 1:  # a trailing ';'
                continue
            raise InvalidInput("hours", f"part {n} is empty")
        where = f"part {n} {part!r}"
        m = re.search(r"\d", part)
        days_text, periods_text = (part[:m.start()], part[m.start():]) if m else (part, "")
        days_text, periods_text = re.sub(r"\s+", "", days_text), re.sub(r"\s+", "", periods_text)
        if not days_text:
            raise InvalidInput("hours", f"{where}: no days before the periods; e.g. 'mon-fri 09:00-18:00'")
        if not periods_text:
            raise InvalidInput("hours", f"{where}: no periods after the days; e.g. 'mon-fri 09:00-18:00'")
        days = _parse_days(days_text, where)
        periods: list[Period] = []
        for item in periods_text.split(","):
            bounds = item.split("-")
            if len(bounds) != 2:
                raise InvalidInput("hours", f"{where}: bad period {item!r}; use HH:MM-HH:MM")
            start, end = _parse_time(bounds[0], where, end=False), _parse_time(bounds[1], where, end=True)
            if not start < end:
                raise InvalidInput("hours", f"{where}: period {item!r} does not end after it starts; "
                                            "split a night shift at midnight (22:00-24:00 and 00:00-06:00)")
            periods.append((start, end))
        for d in days:
            merged = table.get(d, []) + periods
            try:
                table[d] = list(check_periods(merged, "hours"))
            except InvalidInput as exc:
                raise InvalidInput("hours", f"{where}: {DAY_NAMES[d]}: {exc.problem}") from None
    return dict(sorted(table.items()))
