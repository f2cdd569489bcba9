"""The one chart module (Vega-Lite rendered to static SVG offline): dates, empty periods, units, no data."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from closeloop.services.replay import charts


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
