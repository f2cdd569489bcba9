"""``closeloop calendar``: due times, elapsed business time and holiday listings from the command line.

Registered in :mod:`closeloop.cli` with ``app.add_typer(calendar_app, name="calendar")``.
Output is plain text, one value per line, so scripts can use it. Bad input
exits with code 2 and one line on stderr naming the option, e.g.
``error: --start: naive datetime; an offset or UTC is required``.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import NoReturn

import typer

from closeloop.config import Config, ConfigError, load_config
from closeloop.config.schema import CalendarModel
from closeloop.domain.errors import InvalidInput
from integrations.calendars import calendar_year_listing, holiday_calendar

calendar_app = typer.Typer(help="Business calendars: due times, elapsed business hours, holidays and "
                                "make-up working days.", no_args_is_help=True)

DEFAULT_HOURS = "mon-fri 09:00-18:00"
_OPTION = {"timezone": "--timezone", "zone": "--timezone", "hours": "--hours", "calendar": "--hours",
           "weekly": "--hours", "makeup_periods": "--hours", "country": "--country",
           "subdivision": "--subdivision", "extra_closed": "--extra-closed", "extra_open": "--extra-open",
           "start": "--start", "end": "--end", "duration": "--business-hours", "year": "--year"}
_US_PER_HOUR = 3_600_000_000
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _fail(option: str, problem: str) -> NoReturn:
    typer.echo(f"error: {option}: {' '.join(str(problem).split())}", err=True)
    raise typer.Exit(2)


def _invalid(exc: InvalidInput) -> NoReturn:
    _fail(_OPTION.get(exc.field, exc.field), exc.problem)


def _instant(text: str, option: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        _fail(option, f"not an ISO 8601 date-time: {text!r} (e.g. 2026-03-06T17:59:00+08:00)")
    if value.tzinfo is None or value.utcoffset() is None:
        _fail(option, "naive datetime; an offset or UTC is required")
    return value


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        _fail(option, f"not an ISO date: {text!r} (e.g. 2026-10-09)")


def _hours_value(text: str) -> timedelta:
    try:
        hours = Decimal(text.strip())
    except InvalidOperation:
        _fail("--business-hours", f"not a number: {text!r}")
    if not hours.is_finite():
        _fail("--business-hours", f"not a finite number: {text!r}")
    if hours < 0:
        _fail("--business-hours", f"must not be negative, got {text}")
    micro = (hours * _US_PER_HOUR).to_integral_value(rounding=ROUND_HALF_UP)
    if micro > _US_PER_HOUR * 24 * 365 * 1000:
        _fail("--business-hours", f"too large: {text}")
    return timedelta(microseconds=int(micro))


def format_hours_decimal(value: timedelta) -> str:
    """Hours with up to 4 decimals and at least one: ``4.0``, ``4.5``, ``0.3333``."""
    micro = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    q = (Decimal(micro) / _US_PER_HOUR).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    text = f"{q:f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def _calendar(calendar: str | None, timezone: str | None, hours: str, country: str | None,
              subdivision: str | None, extra_closed: list[str], extra_open: list[str]):
    if calendar is not None:
        if timezone or country or subdivision or extra_closed or extra_open or hours != DEFAULT_HOURS:
            _fail("--calendar", "a named calendar comes whole from the configuration; "
                                "do not combine it with --timezone, --hours, --country or extra dates")
        return _named_calendar(calendar)
    if not timezone:
        _fail("--timezone", "required (an IANA name such as Asia/Shanghai), or use --calendar")
    closed = [_day(v, "--extra-closed") for v in extra_closed]
    opened = [_day(v, "--extra-open") for v in extra_open]

    try:
        return holiday_calendar(timezone, hours, country or None, subdivision or None, closed, opened)
    except InvalidInput as exc:
        _invalid(exc)


_CAL = typer.Option(None, "--calendar", help="a calendar defined in the configuration (CLOSELOOP_CONFIG)")


def _config(option: str) -> Config:
    """The configuration of ``CLOSELOOP_CONFIG`` (default: the bundled one); exits 2 naming ``option`` when it
    does not load."""
    try:
        return load_config(os.environ.get("CLOSELOOP_CONFIG") or None)
    except ConfigError as exc:
        _fail(option, str(exc).replace("\n", " "))


def _named_calendar(name: str):
    try:
        return _config("--calendar").calendar(name)
    except ConfigError as exc:
        _fail("--calendar", str(exc).replace("\n", " "))


_TZ = typer.Option(None, "--timezone", "--tz", help="IANA time zone of the calendar, e.g. Asia/Shanghai")
_HOURS = typer.Option(DEFAULT_HOURS, "--hours",
                      help="working periods, e.g. 'mon-fri 09:00-12:00,13:00-18:00; sat 10:00-14:00'")
_COUNTRY = typer.Option(None, "--country", help="ISO country code for public holidays, e.g. CN, DE, US")
_SUBDIV = typer.Option(None, "--subdivision", help="state or province code, e.g. BE for Berlin")
_CLOSED = typer.Option([], "--extra-closed", help="an extra closed date (YYYY-MM-DD); repeatable")
_OPEN = typer.Option([], "--extra-open", help="an extra working date (YYYY-MM-DD); repeatable")


@calendar_app.command("due")
def due_cmd(start: str = typer.Option(..., "--start", help="start instant, ISO 8601 with offset"),
            business_hours: str = typer.Option(..., "--business-hours", help="business hours to add, e.g. 4 or 0.5"),
            calendar: str | None = _CAL, timezone: str | None = _TZ, hours: str = _HOURS,
            country: str | None = _COUNTRY, subdivision: str | None = _SUBDIV,
            extra_closed: list[str] = _CLOSED, extra_open: list[str] = _OPEN) -> None:
    """Print the due instant (ISO 8601, calendar offset): START plus the business hours.

    Counting starts at the next opening when START is outside working hours;
    the due time may be exactly a closing time.
    """
    cal = _calendar(calendar, timezone, hours, country, subdivision, extra_closed, extra_open)
    begin, duration = _instant(start, "--start"), _hours_value(business_hours)
    try:
        typer.echo(cal.add_business_time(begin, duration).isoformat())
    except InvalidInput as exc:
        _invalid(exc)


@calendar_app.command("elapsed")
def elapsed_cmd(start: str = typer.Option(..., "--start", help="ISO 8601 with offset"),
                end: str = typer.Option(..., "--end", help="ISO 8601 with offset"),
                calendar: str | None = _CAL, timezone: str | None = _TZ, hours: str = _HOURS,
                country: str | None = _COUNTRY, subdivision: str | None = _SUBDIV,
                extra_closed: list[str] = _CLOSED, extra_open: list[str] = _OPEN) -> None:
    """Print the business hours between START and END (real time, so DST days count right).

    END before START exits with code 2 (a negative span is almost always swapped arguments); equal is 0.0.
    """
    cal = _calendar(calendar, timezone, hours, country, subdivision, extra_closed, extra_open)
    begin, finish = _instant(start, "--start"), _instant(end, "--end")
    if finish < begin:
        _fail("--end", f"{finish.isoformat()} is before --start {begin.isoformat()}; swap them?")
    try:
        typer.echo(format_hours_decimal(cal.business_time_between(begin, finish)))
    except InvalidInput as exc:
        _invalid(exc)


_SHOWN = ("--country", "--calendar", "--department", "--customer")


@calendar_app.command("show")
def show_cmd(year: int = typer.Option(..., "--year", help="calendar year, e.g. 2026"),
             country: str | None = typer.Option(None, "--country", help="ISO country code, e.g. CN"),
             subdivision: str | None = _SUBDIV,
             calendar: str | None = typer.Option(None, "--calendar", help="a calendar of the configuration "
                                                 "(CLOSELOOP_CONFIG), with its extra_closed and extra_open dates"),
             department: str | None = typer.Option(None, "--department", "-d",
                                                   help="the calendar of a configured department"),
             customer: bool = typer.Option(False, "--customer",
                                           help="the customer calendar ([sla] customer_calendar)")) -> None:
    """List the days off and the adjusted (make-up) working days of a year: a country's public holidays
    (--country), or a configured calendar with its extra dates (--calendar, a --department's, or the
    --customer calendar). Give exactly one of them."""

    given = [o for o, v in zip(_SHOWN, (country, calendar, department, customer), strict=True) if v]
    if len(given) != 1:
        _fail(given[1] if given else "--country",
              "give exactly one of " + ", ".join(_SHOWN) if given else
              "required, or name a configured calendar with --calendar, --department or --customer")
    if country:
        spec, title = CalendarModel(timezone="UTC", country=country, subdivision=subdivision), None
    elif subdivision:
        _fail("--subdivision", f"a configured calendar has its own; do not combine it with {given[0]}")
    else:
        spec, title = _configured(calendar, department)
    try:
        days_off, working = calendar_year_listing(spec.country, spec.subdivision, year, spec.extra_closed,
                                                  spec.extra_open)
    except InvalidInput as exc:
        _invalid(exc)
    region = (spec.country or "").upper() + (f"-{spec.subdivision}" if spec.subdivision else "")
    if title:
        typer.echo(f"{title}: {spec.timezone}, {spec.hours}, public holidays: {region or 'none'}")
    typer.echo(f"days off in {title or region} {year} ({len(days_off)}):")
    for d, name in days_off:
        typer.echo(f"  {d.isoformat()}  {_WEEKDAYS[d.weekday()]}  {name}")
    typer.echo(f"adjusted working days ({len(working)}):")
    for d in working:
        typer.echo(f"  {d.isoformat()}  {_WEEKDAYS[d.weekday()]}")


def _configured(calendar: str | None, department: str | None) -> tuple[CalendarModel, str]:
    """The configured calendar ``calendar`` names, ``department``'s, or (both None) the customer calendar, and
    its title (``calendar nyc (department DOT)``); exits 2 naming the option, with the configured names, for an
    unknown one."""
    cfg = _config("--department" if department else "--calendar")
    option, name, whose = "--calendar", calendar, ""
    if department is not None:
        dep = cfg.departments.get(department)
        if dep is None:
            _fail("--department", f"unknown department {department!r}; configured: "
                                  f"{', '.join(sorted(cfg.departments))}")
        option, name, whose = "--department", dep.calendar, f" (department {department})"
    elif calendar is None:
        option, name, whose = "--customer", cfg.model.sla.customer_calendar, " (customer)"
    spec = cfg.model.calendars.get(name or "")
    if spec is None:
        _fail(option, f"unknown calendar {name!r}; configured: {', '.join(sorted(cfg.model.calendars)) or 'none'}")
    return spec, f"calendar {name}{whose}"
