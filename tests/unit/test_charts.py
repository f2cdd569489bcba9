"""The one chart module (Vega-Lite rendered to static SVG offline): dates, empty periods, units, no data."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from closeloop.domain.notices import NoticeKind
from closeloop.services.replay import charts
from closeloop.services.replay.report import _weekly


def _texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_a_400_day_series_keeps_every_day_and_shows_dates_and_axis_titles():
    start = date(2023, 1, 1)
    series = {(start + timedelta(days=i)).isoformat(): i % 5 for i in range(0, 400, 3)}  # 2 of 3 days missing
    filled = charts.fill_periods(series, "day")
    assert len(filled) == 400 and filled[0] == (start, 0) and filled[1] == (start + timedelta(days=1), 0)
    svg = str(charts.time_bars(series, y_title="open complaints (end of day)", x_title="day (UTC)"))
    texts = _texts(svg)
    assert "open complaints (end of day)" in texts and "day (UTC)" in texts
    assert any(re.fullmatch(r"2023-\d\d-\d\d", t) for t in texts) and any(t.startswith("2024-") for t in texts)
    # one bar per day, the empty days included (drawn flat at 0)
    assert svg.count('aria-roledescription="bar"') == 400


def test_weeks_are_filled_from_monday_and_two_kinds_stay_apart():
    series = {"escalation": {"2013-03-18": 3, "2013-05-02": 2}, "promise breach": {"2013-04-03": 1}}
    weeks = charts.fill_periods(series["escalation"], "week")
    assert weeks[0][0] == date(2013, 3, 18) and weeks[-1][0] == date(2013, 4, 29) and len(weeks) == 7
    assert all(d.weekday() == 0 for d, _ in weeks) and sum(v for _, v in weeks) == 5
    svg = str(charts.time_bars(series, period="week", by="kind", y_title="notifications"))
    assert "escalation" in _texts(svg) and "promise breach" in _texts(svg)


def test_no_data_is_drawn_apart_from_zero():
    svg = str(charts.category_bars({"HPD": 0.5, "NYPD": None, "DOT": 0.0}, y_title="% of tasks resolved",
                                   x_title="department", percent=True))
    texts = _texts(svg)
    assert "no data" in texts and "0%" in texts and "50%" in texts and "% of tasks resolved" in texts
    assert svg.count('aria-roledescription="bar"') == 2  # NYPD draws no bar, DOT a zero-height one
    day = str(charts.time_bars({"2024-01-01": 1, "2024-01-02": None, "2024-01-03": 0}, y_title="x"))
    assert 'fill="#ddd"' in day  # the no-data day is a grey band


def _label_spans(svg: str) -> list[tuple[float, float, str]]:
    """``(left, right, text)`` in px of every value label (text mark) across the chart, narrowest estimate:
    a label lying flat is at least half an em wide per character (DejaVu Sans: 0.6 em a letter or digit, 1 em a
    CJK character), a label turned upright (rotate 90/270) one line, 1.2 em, wide."""
    spans = []
    for attrs, text in re.findall(r'<text([^>]*aria-roledescription="text mark"[^>]*)>([^<]*)</text>', svg):
        x = float(re.search(r"translate\(([-\d.]+),", attrs).group(1))
        size = float(re.search(r'font-size="([\d.]+)px"', attrs).group(1))
        turn = re.search(r"rotate\(([-\d.]+)\)", attrs)
        upright = turn is not None and abs(float(turn.group(1))) % 180 == 90
        wide = 1.2 * size if upright else sum(1.0 if ord(ch) > 0x2E80 else 0.5 for ch in text) * size
        left = x - wide / 2 if upright or 'text-anchor="middle"' in attrs else x
        spans.append((left, left + wide, text))
    return sorted(spans)


def _overlaps(svg: str) -> list[tuple[str, str]]:
    spans = _label_spans(svg)
    return [(a[2], b[2]) for a, b in zip(spans, spans[1:], strict=False) if a[1] > b[0]]


def test_no_data_labels_of_neighbouring_bars_do_not_run_into_each_other():
    """The monthly review of the NYC 311 replay: ten departments at 100 %, four without a task resolved;
    their four "no data" labels printed as one "no datano datano datano data". Each now stands upright in
    its own bar's slot (one line wide, whatever the text's length)."""
    values: dict[str, float | None] = {f"D{i}": 1.0 for i in range(10)} | dict.fromkeys(
        ["DCA", "DOHMH", "EDC", "TLC"])
    svg = str(charts.category_bars(values, y_title="% of tasks resolved", x_title="department", percent=True))
    assert [t for t in _texts(svg) if t == "no data"] == ["no data"] * 4
    assert _overlaps(svg) == []


def test_many_bars_widen_the_chart_rather_than_overlap_their_value_labels():
    values: dict[str, float | None] = {f"department {i}": 1.0 for i in range(30)}
    svg = str(charts.category_bars(values, y_title="% of tasks resolved", x_title="department", percent=True))
    assert _texts(svg).count("100%") == 30 and _overlaps(svg) == []
    width = float(re.search(r'<svg[^>]* width="([\d.]+)"', svg).group(1))
    assert width >= 30 * charts.MIN_SLOT


def test_pareto_sorts_largest_first_with_a_cumulative_axis():
    svg = str(charts.pareto({"process_gap": 4, "billing": 10, "undetermined": 2}))
    texts = _texts(svg)
    assert texts.index("billing") < texts.index("process_gap") < texts.index("undetermined")
    assert "cumulative share (%)" in texts and "complaints" in texts
    assert "no data" in str(charts.pareto({})) and "no data" in str(charts.pareto({"a": 0}))


def test_month_line_breaks_at_no_data_and_bad_period_is_refused():
    svg = str(charts.month_line({"2024-01": 1, "2024-02": None, "2024-03": 4}, y_title="recurrences"))
    assert "no data" in _texts(svg) and "2024-02" in _texts(svg)
    with pytest.raises(ValueError, match="period"):
        charts.fill_periods({"2024-01-01": 1}, "month")


def test_a_single_period_gets_its_empty_neighbours():
    svg = str(charts.time_bars({"escalation": {"2026-01-12": 1}}, period="week", by="kind", y_title="notifications"))
    texts = _texts(svg)
    assert svg.count('aria-roledescription="bar"') == 3
    assert "2026-01-05" in texts or "2026-01-19" in texts


def test_an_outlier_does_not_stretch_a_time_axis_and_the_cut_is_said():
    """Issue 16: one complaint from 2012 in a 2023 export must not squeeze the 2023 bars into one pixel column;
    the axis is cut to the bulk of the data and a note says what was left out."""
    from datetime import date, timedelta

    from closeloop.services.replay.charts import time_bars

    series = {date(2012, 10, 4): 1}
    series |= {date(2023, 7, 1) + timedelta(days=i): 50 for i in range(60)}
    html = str(time_bars(series, period="day", y_title="open complaints"))
    assert "Axis cut to 2023-07-01 .. 2023-08-29" in html and "before 2023-07-01, at most 1" in html
    assert "2012-10-04" not in html.split("chart-note")[0]  # not on the axis
    even = {date(2023, 1, 1) + timedelta(days=i): 5 for i in range(400)}  # no outlier: the whole span
    assert "Axis cut" not in str(time_bars(even, period="day", y_title="open complaints"))


def _ticks(svg: str) -> list[str]:
    return [t for t in _texts(svg) if re.fullmatch(r"\d{4}-\d\d-\d\d", t)]


def test_a_week_axis_is_ticked_on_the_mondays_its_bars_are_keyed_by():
    """The replay report's weekly chart, titled "week starting Monday (UTC)", was ticked on Sundays
    (2023-07-09, 07-16, ...: Vega's own week ticks) under bars keyed by Mondays."""
    series = {"escalation": {"2023-07-03": 6, "2023-07-24": 386, "2023-09-11": 45},
              "promise breach": {"2023-07-10": 2, "2023-09-18": 15}}
    svg = str(charts.time_bars(series, period="week", by="kind", y_title="notifications",
                               x_title="week starting Monday (UTC)"))
    mondays = [(date(2023, 7, 3) + timedelta(weeks=i)).isoformat() for i in range(12)]
    assert _ticks(svg) == mondays  # 2023-07-03 .. 2023-09-18, every Monday, no Sunday
    bars = re.findall(r"week starting Monday \(UTC\): (\d{4}-\d\d-\d\d); notifications: (\d+); kind: escalation", svg)
    assert [d for d, _ in bars] == mondays[:-1] and dict(bars)["2023-07-24"] == "386"  # escalations end 09-11


def test_a_long_week_axis_ticks_every_nth_monday():
    series = {(date(2023, 1, 2) + timedelta(weeks=i)).isoformat(): 1 for i in range(57)}
    ticks = _ticks(str(charts.time_bars(series, period="week", y_title="notifications")))
    assert ticks == [(date(2023, 1, 2) + timedelta(weeks=5 * i)).isoformat() for i in range(12)]
    assert all(date.fromisoformat(t).weekday() == 0 for t in ticks)


_WEST_OF_UTC = """
import json, re
from closeloop.domain.notices import NoticeKind
from closeloop.services.replay import charts
from closeloop.services.replay.report import _weekly
week = str(charts.time_bars({"2023-07-03": 1, "2023-07-17": 2}, period="week", y_title="n", x_title="week"))
day = str(charts.time_bars({"2024-01-01": 1, "2024-01-02": 3}, y_title="n", x_title="day"))
month = str(charts.month_line({"2024-01": 1, "2024-02": 2}, y_title="n"))
texts = lambda svg: re.findall(r"<text[^>]*>([^<]*)</text>", svg)
print(json.dumps({"week_bars": re.findall(r"week: (\\d{4}-\\d\\d-\\d\\d)", week),
                  "week_ticks": [t for t in texts(week) if t.startswith("2023-")],
                  "day_bars": re.findall(r"day: (\\d{4}-\\d\\d-\\d\\d)", day),
                  "months": [t for t in texts(month) if re.fullmatch(r"\\d{4}-\\d\\d", t)]}))
"""


def test_dates_stay_utc_days_on_a_machine_west_of_utc():
    """A local time unit drew the UTC day 2023-07-03 (a Monday) as Sunday 2023-07-02 on a machine in New York,
    and the month 2024-01 as 2023-12. The renderer reads the zone at start, hence a process of its own."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {**os.environ, "TZ": "America/New_York", "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", _WEST_OF_UTC], env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    got = json.loads(res.stdout)
    assert got["week_bars"] == ["2023-07-03", "2023-07-10", "2023-07-17"]
    assert got["week_ticks"] == ["2023-07-03", "2023-07-10", "2023-07-17"]
    assert got["day_bars"] == ["2024-01-01", "2024-01-02"]
    assert got["months"] == ["2024-01", "2024-02"]


def test_notifications_count_in_the_utc_week_starting_monday_they_fired_in():
    shanghai = timezone(timedelta(hours=8))
    notes = [SimpleNamespace(kind=NoticeKind.ESCALATION, fired_at=datetime(2023, 7, 10, 5, 0, tzinfo=shanghai)),
             SimpleNamespace(kind=NoticeKind.ESCALATION, fired_at=datetime(2023, 7, 10, 0, 0, tzinfo=UTC)),
             SimpleNamespace(kind=NoticeKind.PROMISE, fired_at=datetime(2023, 7, 16, 23, 59, tzinfo=UTC)),
             SimpleNamespace(kind=NoticeKind.REMINDER, fired_at=datetime(2023, 7, 11, tzinfo=UTC))]
    # Monday 05:00 in Shanghai is Sunday 21:00 UTC: the week of Monday 2023-07-03
    assert _weekly(notes) == {"escalation": {"2023-07-03": 1, "2023-07-10": 1},
                              "resolution promise breach": {"2023-07-10": 1}}


def test_count_axes_tick_whole_numbers_only():
    """A Pareto of one complaint was ticked 0, 0.2, 0.4, ... 1 (fractions of a complaint)."""
    for svg in (str(charts.pareto({"billing": 1})),
                str(charts.month_line({"2024-01": 1, "2024-02": 0}, y_title="recurrences")),
                str(charts.time_bars({"2024-01-01": 1}, y_title="open complaints"))):
        texts = _texts(svg)
        assert "1" in texts and not [t for t in texts if re.fullmatch(r"0?\.\d+|\d+\.\d+", t)], texts
