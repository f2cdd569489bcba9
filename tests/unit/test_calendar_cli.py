"""``closeloop calendar due|elapsed|show`` through Typer's runner, on a local app that mounts the sub-app."""

from __future__ import annotations

from datetime import timedelta

import pytest
import typer
from typer.testing import CliRunner

from closeloop.cli.calendar import calendar_app, format_hours_decimal
from tests.conftest import ROOT

app = typer.Typer()
app.add_typer(calendar_app, name="calendar")
runner = CliRunner()

CN = ["--country", "CN", "--timezone", "Asia/Shanghai"]


def run(*args: str):
    return runner.invoke(app, ["calendar", *args])


def due(*args: str) -> str:
    res = run("due", *args)
    assert res.exit_code == 0, res.output
    assert res.stderr == "" and res.stdout.count("\n") == 1  # only the due instant
    return res.stdout.strip()


def error(*args: str) -> str:
    res = run(*args)
    assert res.exit_code == 2, res.output
    assert res.stdout == ""
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr  # one line
    return lines[0]


def test_due_example_from_the_brief():
    assert due(*CN, "--hours", "mon-fri 09:00-18:00", "--start", "2026-03-06T17:59:00+08:00",
               "--business-hours", "4") == "2026-03-09T12:59:00+08:00"


def test_c01_due():
    out = due("--country", "DE", "--subdivision", "BE", "--timezone", "Europe/Berlin",
              "--hours", "mon-fri 09:00-21:00", "--start", "2026-11-10T10:00:00+01:00", "--business-hours", "48")
    assert out == "2026-11-16T10:00:00+01:00" and out != "2026-11-17T10:00:00+01:00"
    # the start may be given in UTC; the answer is in the calendar's offset
    assert due("--country", "DE", "--subdivision", "BE", "--timezone", "Europe/Berlin", "--hours",
               "mon-fri 09:00-21:00", "--start", "2026-11-10T09:00:00Z", "--business-hours", "48") == out
    # St. Martin's Day closed by mistake (as a configured extra date) gives the wrong value
    assert due("--country", "DE", "--subdivision", "BE", "--timezone", "Europe/Berlin", "--hours",
               "mon-fri 09:00-21:00", "--start", "2026-11-10T10:00:00+01:00", "--business-hours", "48",
               "--extra-closed", "2026-11-11") == "2026-11-17T10:00:00+01:00"


@pytest.mark.parametrize("start, hours, expected", [
    ("2026-02-13T17:30:00+08:00", "8", "2026-02-14T16:30:00+08:00"),
    ("2026-02-13T17:30:00+08:00", "16", "2026-02-24T15:30:00+08:00"),
    ("2026-01-30T17:30:00+08:00", "8", "2026-02-02T16:30:00+08:00"),
])
def test_c03_due(start, hours, expected):
    out = due(*CN, "--start", start, "--business-hours", hours)  # default hours: mon-fri 09:00-18:00
    assert out == expected
    assert out not in ("2026-02-24T16:30:00+08:00", "2026-02-16T16:30:00+08:00")  # the wrong values


def test_c03_wrong_value_without_holiday_data():
    # without --country (weekends only) the 8 h SLA lands on the wrong Monday, as in the bug
    assert due("--timezone", "Asia/Shanghai", "--start", "2026-02-13T17:30:00+08:00",
               "--business-hours", "8") == "2026-02-16T16:30:00+08:00"


@pytest.mark.parametrize("start, hours, expected", [
    ("2026-03-04T12:30:00+08:00", "2", "2026-03-04T15:30:00+08:00"),
    ("2026-03-04T13:20:00+08:00", "1", "2026-03-04T15:00:00+08:00"),
    ("2026-03-04T17:30:00+08:00", "4", "2026-03-05T12:30:00+08:00"),
])
def test_c04_due(start, hours, expected):
    assert due(*CN, "--hours", "mon-fri 09:00-13:00,14:00-18:00", "--start", start,
               "--business-hours", hours) == expected


def test_c06_due_in_minutes_as_decimal_hours():
    assert due("--timezone", "Asia/Riyadh", "--hours", "sun-thu 09:00-17:00", "--start",
               "2026-05-10T10:00:00+03:00", "--business-hours", "0.5") == "2026-05-10T10:30:00+03:00"
    assert due("--timezone", "Asia/Riyadh", "--hours", "sun-thu 09:00-17:00", "--start",
               "2026-05-14T16:45:00+03:00", "--business-hours", "0.5") == "2026-05-17T09:15:00+03:00"


def test_extra_open_date():
    # Sun 2026-03-08 opened by configuration: Fri 17:00 + 4 h = 1 h Fri + 3 h Sunday from 09:00
    assert due("--timezone", "Asia/Shanghai", "--start", "2026-03-06T17:00:00+08:00", "--business-hours", "4",
               "--extra-open", "2026-03-08") == "2026-03-08T12:00:00+08:00"


@pytest.mark.parametrize("start, end, expected", [
    ("2026-03-06T17:00:00+08:00", "2026-03-09T12:30:00+08:00", "4.5"),
    ("2026-03-06T09:00:00+08:00", "2026-03-06T18:00:00+08:00", "9.0"),
    ("2026-03-06T09:00:00+08:00", "2026-03-06T09:20:00+08:00", "0.3333"),
    ("2026-03-06T09:00:00+08:00", "2026-03-06T09:15:00+08:00", "0.25"),
    ("2026-03-09T12:00:00+08:00", "2026-03-09T12:00:00+08:00", "0.0"),
    ("2026-02-13T17:30:00+08:00", "2026-02-24T15:30:00+08:00", "16.0"),
])
def test_elapsed(start, end, expected):
    res = run("elapsed", *CN, "--start", start, "--end", end)
    assert res.exit_code == 0, res.output
    assert res.stdout == expected + "\n"


def test_elapsed_with_end_before_start_names_the_option():
    res = run("elapsed", *CN, "--start", "2026-03-09T12:00:00+08:00", "--end", "2026-03-06T12:00:00+08:00")
    assert res.exit_code == 2 and res.stdout == ""
    assert "--end" in res.stderr and "before --start" in res.stderr


def test_elapsed_counts_real_time_on_dst_days():
    res = run("elapsed", "--timezone", "Europe/Berlin", "--hours", "sun 00:00-24:00",
              "--start", "2026-10-25T00:00:00+02:00", "--end", "2026-10-26T00:00:00+01:00")
    assert res.stdout == "25.0\n"


def test_format_hours_decimal():
    assert [format_hours_decimal(timedelta(minutes=m)) for m in (0, 1, 30, 90, 600)] == \
        ["0.0", "0.0167", "0.5", "1.5", "10.0"]


def test_show_lists_days_off_and_make_up_days():
    res = run("show", "--country", "CN", "--year", "2026")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == "days off in CN 2026 (22):"
    assert "  2026-02-17  Tue  Chinese New Year (Spring Festival)" in lines
    i = lines.index("adjusted working days (6):")
    assert lines[i + 1:] == ["  2026-01-04  Sun", "  2026-02-14  Sat", "  2026-02-28  Sat", "  2026-05-09  Sat",
                             "  2026-09-20  Sun", "  2026-10-10  Sat"]
    berlin = run("show", "--country", "DE", "--subdivision", "BE", "--year", "2026").stdout
    assert "2026-03-08  Sun  Women's Day" in berlin and "2026-11-11" not in berlin


@pytest.mark.parametrize("args, expected", [
    (["due", *CN, "--start", "2026-03-06T17:59:00", "--business-hours", "4"],
     "error: --start: naive datetime; an offset or UTC is required"),
    (["due", "--country", "CN", "--timezone", "Asia/Shangai", "--start", "2026-03-06T17:59:00+08:00",
      "--business-hours", "4"], "error: --timezone: unknown time zone 'Asia/Shangai'"),
    (["due", *CN, "--hours", "mon-fri 9-18", "--start", "2026-03-06T17:59:00+08:00", "--business-hours", "4"],
     "error: --hours: part 1 'mon-fri 9-18': bad time '9'; use HH:MM"),
    (["due", "--country", "XX", "--timezone", "UTC", "--start", "2026-03-06T17:59:00Z", "--business-hours", "4"],
     "error: --country: unknown or unsupported country 'XX'"),
    (["due", *CN, "--subdivision", "Mars", "--start", "2026-03-06T17:59:00Z", "--business-hours", "4"],
     "error: --subdivision: unknown subdivision 'Mars' of CN"),
    (["due", *CN, "--start", "yesterday", "--business-hours", "4"], "error: --start: not an ISO 8601 date-time"),
    (["due", *CN, "--start", "2026-03-06T17:59:00Z", "--business-hours", "-1"],
     "error: --business-hours: must not be negative"),
    (["due", *CN, "--start", "2026-03-06T17:59:00Z", "--business-hours", "four"],
     "error: --business-hours: not a number"),
    (["due", *CN, "--start", "2026-03-06T17:59:00Z", "--business-hours", "nan"],
     "error: --business-hours: not a finite number"),
    (["due", *CN, "--start", "2026-03-06T17:59:00Z", "--business-hours", "1", "--extra-closed", "3/4/2026"],
     "error: --extra-closed: not an ISO date"),
    (["due", *CN, "--start", "2026-03-06T17:59:00Z", "--business-hours", "1", "--extra-closed", "2026-03-09",
      "--extra-open", "2026-03-09"], "error: --extra-open: 2026-03-09 is also in extra_closed"),
    (["due", "--start", "2026-03-06T17:59:00Z", "--business-hours", "1"], "error: --timezone: required"),
    (["due", "--calendar", "cn-service", "--start", "2026-03-06T17:59:00Z", "--business-hours", "1"],
     "error: --calendar: closeloop/config/default.toml: calendars.cn-service: no such calendar"),
    (["due", "--calendar", "default", "--timezone", "UTC", "--start", "2026-03-06T17:59:00Z",
      "--business-hours", "1"], "error: --calendar: a named calendar comes whole from the configuration"),
    (["elapsed", *CN, "--start", "2026-03-06T17:59:00+08:00", "--end", "2026-03-09T10:00:00"],
     "error: --end: naive datetime; an offset or UTC is required"),
    (["show", "--country", "DE", "--subdivision", "Atlantis", "--year", "2026"],
     "error: --subdivision: unknown subdivision 'Atlantis' of DE"),
])
def test_bad_input_exits_2_with_one_line_naming_the_option(args, expected):
    assert error(*args).startswith(expected)


def test_sparse_calendar_with_a_closed_monday():
    # only Mondays 09:00-10:00 UTC; Mon 9 Mar closed: the hour is Mon 16 Mar 09:00-10:00
    assert due("--timezone", "UTC", "--hours", "mon 09:00-10:00", "--extra-closed", "2026-03-09",
               "--start", "2026-03-06T17:59:00Z", "--business-hours", "1") == "2026-03-16T10:00:00+00:00"



def test_due_beyond_year_9999_is_a_usage_error():
    line = error("due", *CN, "--start", "9999-12-30T09:00:00+08:00", "--business-hours", "100")
    assert line.startswith("error: --business-hours: ") and "9999" in line


def test_named_calendar_from_the_configuration(monkeypatch):
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    # default.toml: America/New_York, mon-fri 09:00-17:00, US-NY holidays; Thanksgiving 2026 is Thu 26 Nov
    assert due("--calendar", "default", "--start", "2026-11-25T16:00:00-05:00",
               "--business-hours", "2") == "2026-11-27T10:00:00-05:00"


def _config_with_a_department_calendar(tmp_path, monkeypatch) -> None:
    """default.toml with the service department on a Shanghai calendar of its own, with extra dates."""
    text = (ROOT / "closeloop" / "config" / "default.toml").read_text("utf-8")
    head, tail = text.split("[departments.service]", 1)
    tail = tail.replace('calendar = "default"', 'calendar = "cn-service"', 1)
    toml = (head + "[departments.service]" + tail + '\n[calendars.cn-service]\ntimezone = "Asia/Shanghai"\n'
            'hours = "mon-fri 09:00-18:00"\ncountry = "CN"\n'
            'extra_closed = [2026-03-09, 2026-02-14]\nextra_open = [2026-10-07]\n')
    (tmp_path / "cn.toml").write_text(toml, "utf-8")
    monkeypatch.setenv("CLOSELOOP_CONFIG", str(tmp_path / "cn.toml"))


def test_show_a_departments_configured_calendar_with_its_extra_dates(tmp_path, monkeypatch):
    _config_with_a_department_calendar(tmp_path, monkeypatch)
    res = run("show", "--department", "service", "--year", "2026")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0] == "calendar cn-service (department service): Asia/Shanghai, mon-fri 09:00-18:00, " \
                       "public holidays: CN"
    # the configured closed Monday is a day off; 10-07, a holiday opened by configuration, is not
    assert "  2026-03-09  Mon  closed (configuration: extra_closed)" in lines
    assert not any(line.startswith("  2026-10-07") for line in lines[:lines.index("adjusted working days (6):")])
    i = lines.index("adjusted working days (6):")
    # the make-up Saturday 02-14 closed by configuration is no working day; 10-07 opened is one
    assert lines[i + 1:] == ["  2026-01-04  Sun", "  2026-02-28  Sat", "  2026-05-09  Sat", "  2026-09-20  Sun",
                             "  2026-10-07  Wed", "  2026-10-10  Sat"]
    assert run("show", "--calendar", "cn-service", "--year", "2026").stdout.splitlines()[2:] == lines[2:]
    customer = run("show", "--customer", "--year", "2026").stdout  # [sla] customer_calendar = "default"
    assert customer.startswith("calendar default (customer): America/New_York, mon-fri 09:00-17:00")
    assert "2026-11-26  Thu  Thanksgiving" in customer


@pytest.mark.parametrize("args, expected", [
    (["--department", "legal"], "error: --department: unknown department 'legal'; configured: operations, product, "
                                "service, triage"),
    (["--calendar", "nope"], "error: --calendar: unknown calendar 'nope'; configured: cn-service, default"),
    (["--country", "CN", "--customer"], "error: --customer: give exactly one of --country, --calendar, "
                                        "--department, --customer"),
    ([], "error: --country: required, or name a configured calendar with --calendar, --department or --customer"),
    (["--calendar", "default", "--subdivision", "BE"], "error: --subdivision: a configured calendar has its own"),
])
def test_show_names_an_unknown_or_conflicting_calendar_option(tmp_path, monkeypatch, args, expected):
    _config_with_a_department_calendar(tmp_path, monkeypatch)
    assert error("show", "--year", "2026", *args).startswith(expected)
