"""Charts for the replay report, the monthly review and the dashboard: Vega-Lite rendered to static SVG.

One module builds every chart the product shows. Each function takes plain figures, builds a
Vega-Lite 5 specification and renders it offline with ``vl-convert-python`` (Vega's own renderer
embedded in the package: no network, no JavaScript in the page, the SVG prints as drawn). The
rules every chart follows:

- a time axis is a real time scale with dates on it, and every period between the first and the
  last one is present (an empty day or week is a 0 bar in its place, never left out), so a
  400-day series renders as 400 days; the dates are drawn as the UTC calendar days given (never in the
  machine's time zone, which moved every bar a day back west of UTC), and a week axis is ticked on Mondays;
- both axes carry a title, the y axis with its unit (``"complaints"``, ``"% of tasks"``, ``"hours"``);
- a value of ``None`` means "no data" and is drawn apart from 0: a grey "no data" label (and, on a
  time axis, a grey band) where 0 would draw nothing.

Returned values are :class:`markupsafe.Markup` (safe to put in a Jinja template as they are).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from markupsafe import Markup

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
BLUE, RED, GREY = "#3b6ea5", "#c0392b", "#9a9a9a"
NO_DATA = "no data"
_CONFIG = {"font": "DejaVu Sans, Arial, sans-serif", "view": {"stroke": None},
           "axis": {"labelFontSize": 11, "titleFontSize": 12, "grid": True, "gridColor": "#eee"},
           "legend": {"labelFontSize": 11, "titleFontSize": 11, "orient": "top"}}

#: the y axis of a count (complaints, tasks, notices): whole-number ticks only (Vega-Lite picked 0.2, 0.4, ... for a
#: single complaint)
COUNT_AXIS: dict[str, Any] = {"tickMinStep": 1, "format": "d"}


@lru_cache(maxsize=256)
def _svg(spec_json: str) -> str:
    # deferred: it starts Vega's renderer (about 1 s): imported on the first chart
    import vl_convert as vlc  # imported on first use: it starts Vega's renderer (about 1 s)

    return vlc.vegalite_to_svg(json.loads(spec_json))


def render(spec: dict, *, label: str = "chart") -> Markup:
    """SVG markup of the Vega-Lite ``spec`` (a dict without ``$schema``/``config``; both are added).

    ``label`` becomes the SVG's ``aria-label``. Raises ``ValueError`` from the renderer for an
    invalid specification. Identical specifications are rendered once (cached).
    """
    full = {"$schema": SCHEMA, "config": _CONFIG, "background": "white", **spec}
    svg = _svg(json.dumps(full, sort_keys=True, default=str))
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{_attr(label)}" ', 1)
    return Markup(svg)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _period_start(at: date, period: str) -> date:
    return at - timedelta(days=at.weekday()) if period == "week" else at


def fill_periods(series: dict[date, float | None], period: str, *, empty: float | None = 0) -> list[
        tuple[date, float | None]]:
    """``series`` with every day (``period="day"``) or ISO week (``"week"``, keyed by its Monday)
    from the first to the last key present, in order; a missing period gets ``empty``.

    Keys may be dates or ISO date strings (``YYYY-MM-DD``). Raises ``ValueError`` for another period.
    """
    if period not in ("day", "week"):
        raise ValueError(f"period: expected 'day' or 'week', got {period!r}")
    norm: dict[date, float | None] = {}
    for k, v in series.items():
        d = _period_start(k if isinstance(k, date) else date.fromisoformat(str(k)[:10]), period)
        norm[d] = v if d not in norm else _add(norm[d], v)
    if not norm:
        return []
    step = timedelta(days=7 if period == "week" else 1)
    out, at, last = [], min(norm), max(norm)
    while at <= last:
        out.append((at, norm.get(at, empty)))
        at += step
    return out


def _add(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else a + b


def _no_data(text: str = NO_DATA) -> Markup:
    return Markup(f'<p class="no-data"><em>{text}</em></p>')


def time_bars(series: dict, *, period: str = "day", y_title: str, x_title: str | None = None,
              width: int = 760, height: int = 200, by: str | None = None,
              label: str | None = None) -> Markup:
    """Bars over a time axis: ``{day or ISO date: value}``, or with ``by`` set,
    ``{group: {day: value}}`` drawn as stacked, coloured groups (legend titled ``by``).

    Empty periods are kept (see :func:`fill_periods`); a ``None`` value is a grey "no data" band.
    ``y_title`` names the unit (e.g. ``"open complaints"``). Dates are calendar days as given, drawn as
    UTC days whatever the machine's time zone; a week axis is ticked on the Mondays its bars are keyed by.
    """
    groups = series if by else {"": series}
    rows: list[dict] = []
    for group, values in groups.items():
        for at, v in fill_periods(values, period):
            rows.append({"t": at.isoformat(), "v": v, "g": group, "nodata": v is None})
    if not rows:
        return _no_data()
    rows, note = _focus(rows, y_title)
    if len({r["t"] for r in rows}) == 1:  # one period alone: its empty neighbours give the axis a span
        step = timedelta(days=7 if period == "week" else 1)
        one = date.fromisoformat(rows[0]["t"])
        rows += [{"t": (one + d).isoformat(), "v": 0, "g": rows[0]["g"], "nodata": False} for d in (-step, step)]
    unit = "utcyearmonthdate"  # the dates are UTC calendar days: a local time unit moved them west of UTC
    axis: dict[str, Any] = {"format": "%Y-%m-%d", "labelAngle": -30, "labelOverlap": True}
    if period == "week":  # Vega's own week ticks fall on Sundays: tick the Mondays the bars are keyed by
        axis["values"] = _week_ticks(sorted({r["t"] for r in rows}), width)
    x = {"field": "t", "type": "temporal", "timeUnit": unit,
         "title": x_title or ("day" if period == "day" else "week (starting Monday)"), "axis": axis}
    bar: dict[str, Any] = {"mark": {"type": "bar", "color": BLUE},
           "transform": [{"filter": "datum.v !== null"}],
           "encoding": {"x": x, "y": {"field": "v", "type": "quantitative", "title": y_title,
                                      "axis": COUNT_AXIS},
                        "tooltip": [{"field": "t", "type": "temporal", "timeUnit": unit, "title": "date"},
                                    {"field": "v", "type": "quantitative", "title": y_title}]}}
    if by:
        bar["encoding"]["color"] = {"field": "g", "type": "nominal", "title": by,
                                    "scale": {"range": [BLUE, RED, "#e67e22", "#27ae60", GREY]}}
    layers = [bar]
    if any(r["nodata"] for r in rows):
        layers.insert(0, {"mark": {"type": "bar", "color": "#ddd"}, "transform": [{"filter": "datum.nodata"}],
                          "encoding": {"x": x, "y": {"value": 0}, "y2": {"value": height},
                                       "tooltip": {"value": NO_DATA}}})
    chart = render({"width": width, "height": height, "data": {"values": rows}, "layer": layers},
                   label=label or y_title)
    return Markup(chart + Markup('<p class="chart-note">{}</p>').format(note)) if note else chart


#: the least room (px) a date label of a week axis gets ("2023-07-03", turned 30 degrees)
WEEK_LABEL_PX = 60


def _week_ticks(mondays: list[str], width: int) -> list[dict]:
    """Axis values for ``mondays`` (ISO dates, in order): every one, or every n-th when they would not
    fit ``width`` at :data:`WEEK_LABEL_PX` each, as UTC dates (what the bars are keyed by)."""
    step = -(-len(mondays) // max(1, width // WEEK_LABEL_PX))
    return [{"year": d.year, "month": d.month, "date": d.day, "utc": True}
            for d in (date.fromisoformat(m) for m in mondays[::step])]


#: A time axis is cut to the periods holding this share of the total when the rest (a few outliers of the
#: export's dates) would otherwise stretch it to more than twice as long.
FOCUS_SHARE = 0.98


def _focus(rows: list[dict], unit: str) -> tuple[list[dict], str]:
    """``rows`` cut to the :data:`FOCUS_SHARE` of the total around the bulk of the data when the outliers
    more than double the axis; and the note saying what was left out (empty string when nothing was)."""
    days = sorted({r["t"] for r in rows})
    per_day: dict[str, float] = {}
    for r in rows:
        per_day[r["t"]] = per_day.get(r["t"], 0) + (r["v"] or 0)
    total = sum(per_day.values())
    if total <= 0 or len(days) < 20:
        return rows, ""
    tail, acc, lo = total * (1 - FOCUS_SHARE) / 2, 0.0, 0
    while lo < len(days) and acc + per_day[days[lo]] <= tail:
        acc += per_day[days[lo]]
        lo += 1
    acc, hi = 0.0, len(days) - 1
    while hi > lo and acc + per_day[days[hi]] <= tail:
        acc += per_day[days[hi]]
        hi -= 1
    if (hi - lo + 1) * 2 > len(days):
        return rows, ""
    kept = [r for r in rows if days[lo] <= r["t"] <= days[hi]]
    parts = [_left_out(days[:lo], per_day, f"before {days[lo]}"),
             _left_out(days[hi + 1:], per_day, f"after {days[hi]}")]
    return kept, (f"Axis cut to {days[lo]} .. {days[hi]}, the bulk of the data; not drawn: "
                  + "; ".join(p for p in parts if p) + f" ({unit}).")


def _left_out(periods: list[str], per_day: dict[str, float], where: str) -> str:
    """``"310 periods before 2023-07-17, at most 1"`` (empty when none was left out)."""
    if not periods:
        return ""
    most = max(per_day[d] for d in periods)
    return f"{len(periods)} period{'s' if len(periods) != 1 else ''} {where}, at most {most:g}"


#: the narrowest slot a category bar gets (px): its value label ("100%", 11 px type) fits with a gap to the next;
#: more bars than fit the requested width widen the chart instead of overlapping their labels
MIN_SLOT = 38


def category_bars(values: dict[str, float | None], *, y_title: str, x_title: str, percent: bool = False,
                  width: int = 520, height: int = 180, label: str | None = None,
                  colour: dict[str, str] | None = None) -> Markup:
    """Bars of ``{category: value}`` in the given order; ``None`` is labelled "no data" (not a 0 bar).

    ``percent`` takes values as shares (0-1) and draws 0-100 % on a fixed scale. ``colour`` maps a
    category to a bar colour (default blue). Each bar carries its value as a label above it; a "no data"
    label is written upwards from the axis inside its own bar's slot, so neighbouring ones never run into
    each other whatever the text's length. ``width``/``height`` in px (the width grows to
    :data:`MIN_SLOT` px per bar when more bars than that would fit).
    """
    if not values:
        return _no_data()
    rows = [{"k": str(k), "v": None if v is None else (v * 100 if percent else v), "i": i,
             "c": (colour or {}).get(str(k), BLUE),
             "txt": NO_DATA if v is None else (f"{v * 100:.0f}%" if percent else f"{v:,.0f}")}
            for i, (k, v) in enumerate(values.items())]
    order = [r["k"] for r in rows]
    x = {"field": "k", "type": "nominal", "sort": order, "title": x_title,
         "axis": {"labelAngle": -30, "labelLimit": 140}}
    y: dict[str, Any] = {"field": "v", "type": "quantitative", "title": y_title}
    if percent:
        y["scale"] = {"domain": [0, 100]}
    bars = {"mark": {"type": "bar"}, "transform": [{"filter": "datum.v !== null"}],
            "encoding": {"x": x, "y": y, "color": {"field": "c", "type": "nominal", "scale": None},
                         "tooltip": [{"field": "k", "title": x_title}, {"field": "txt", "title": y_title}]}}
    text = {"mark": {"type": "text", "dy": -6, "fontSize": 11, "color": "#333"},
            "transform": [{"filter": "datum.v !== null"}],
            "encoding": {"x": x, "y": {"field": "v", "type": "quantitative"}, "text": {"field": "txt"}}}
    layers = [bars, text]
    if any(r["v"] is None for r in rows):  # upwards from 0 (angle 270, left-aligned): one line's height wide
        layers.append({"mark": {"type": "text", "angle": 270, "align": "left", "baseline": "middle", "dx": 4,
                                "fontSize": 11, "color": GREY},
                       "transform": [{"filter": "datum.v === null"}],
                       "encoding": {"x": x, "y": {"datum": 0, "type": "quantitative"}, "text": {"field": "txt"}}})
    return render({"width": max(width, MIN_SLOT * len(rows)), "height": height, "data": {"values": rows},
                   "layer": layers}, label=label or y_title)


#: the height (px) of one row of :func:`ranked_bars`: a bar and its 11 px labels
ROW_PX = 20


def ranked_bars(values: dict[str, tuple[float, float]], *, x_title: str, y_title: str, part_title: str,
                rest_title: str, width: int = 400, label: str | None = None) -> Markup:
    """Horizontal bars, one row per category in the given order (the caller ranks them): ``{category: (total,
    part)}``, ``part`` (of ``total``, drawn red and first) stacked with the rest (blue).

    The width is fixed whatever the number of categories (``width`` px of plot, plus the category labels, cut at
    120 px, and the value labels): more categories make the chart taller (:data:`ROW_PX` each), never wider. Each
    row carries ``"total"`` or ``"total (part part_title)"`` at its end. ``x_title`` names the unit of the
    values, ``y_title`` the categories; ``part_title``/``rest_title`` are the legend's two entries.
    """
    if not values:
        return _no_data()
    rows: list[dict[str, Any]] = []
    for i, (k, (total, part)) in enumerate(values.items()):
        part = min(part, total)
        txt = f"{total:,.0f}" + (f" ({part:,.0f} {part_title})" if part else "")
        rows += [{"k": str(k), "seg": part_title, "v": part, "o": 0, "i": i, "txt": txt, "total": total},
                 {"k": str(k), "seg": rest_title, "v": total - part, "o": 1, "i": i, "txt": txt, "total": total}]
    order = list(dict.fromkeys(r["k"] for r in rows))
    top = max([r["total"] for r in rows] + [1])
    y = {"field": "k", "type": "nominal", "sort": order, "title": y_title, "axis": {"labelLimit": 120}}
    x_scale = {"domain": [0, top * 1.45], "nice": False}  # room at the right for the longest row's label
    bars = {"mark": {"type": "bar"},
            "encoding": {"y": y, "x": {"field": "v", "type": "quantitative", "title": x_title, "stack": "zero",
                                       "scale": x_scale, "axis": {**COUNT_AXIS, "tickCount": 5}},
                         "color": {"field": "seg", "type": "nominal", "title": None,
                                   "scale": {"domain": [part_title, rest_title], "range": [RED, BLUE]}},
                         "order": {"field": "o"},
                         "tooltip": [{"field": "k", "title": y_title}, {"field": "txt", "title": x_title}]}}
    text = {"mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 11, "color": "#333"},
            "transform": [{"filter": "datum.o === 0"}],
            "encoding": {"y": y, "x": {"field": "total", "type": "quantitative", "scale": x_scale},
                         "text": {"field": "txt"}}}
    return render({"width": width, "height": {"step": ROW_PX}, "data": {"values": rows}, "layer": [bars, text]},
                  label=label or x_title)


def pareto(counts: dict[str, int], *, x_title: str = "root cause", y_title: str = "complaints",
           width: int = 640, height: int = 200) -> Markup:
    """Pareto chart: bars of ``{label: count}`` (largest first) and the cumulative share as a line
    on a second axis (0-100 %)."""
    items = sorted(((str(k), int(v or 0)) for k, v in counts.items()), key=lambda kv: -kv[1])
    total = sum(v for _, v in items)
    if not items or not total:
        return _no_data()
    rows, cum = [], 0
    for k, v in items:
        cum += v
        rows.append({"k": k, "v": v, "cum": round(100 * cum / total, 1), "share": f"{100 * v / total:.0f}%"})
    x = {"field": "k", "type": "nominal", "sort": [k for k, _ in items], "title": x_title,
         "axis": {"labelAngle": -30, "labelLimit": 160}}
    bars = {"mark": {"type": "bar", "color": BLUE},
            "encoding": {"x": x, "y": {"field": "v", "type": "quantitative", "title": y_title, "axis": COUNT_AXIS},
                         "tooltip": [{"field": "k"}, {"field": "v"}, {"field": "share"}]}}
    labels = {"mark": {"type": "text", "dy": -6, "fontSize": 11},
              "encoding": {"x": x, "y": {"field": "v", "type": "quantitative"}, "text": {"field": "v"}}}
    line = {"mark": {"type": "line", "color": RED, "point": {"color": RED}},
            "encoding": {"x": x, "y": {"field": "cum", "type": "quantitative", "title": "cumulative share (%)",
                                       "scale": {"domain": [0, 100]}, "axis": {"titleColor": RED}}}}
    return render({"width": width, "height": height, "data": {"values": rows},
                   "layer": [{"layer": [bars, labels]}, line], "resolve": {"scale": {"y": "independent"}}},
                  label="Pareto chart")


def month_line(series: dict[str, float | None], *, y_title: str, width: int = 640, height: int = 160) -> Markup:
    """A line over months ``{"YYYY-MM": value}`` (every month between first and last is expected as a
    key); ``None`` breaks the line and is marked "no data"."""
    if not series:
        return _no_data()
    rows = [{"m": f"{k}-01", "v": v, "txt": NO_DATA if v is None else f"{v:,.0f}"} for k, v in series.items()]
    x = {"field": "m", "type": "temporal", "timeUnit": "utcyearmonth", "title": "month",
         "axis": {"format": "%Y-%m", "tickCount": {"interval": "month", "step": 1}}}
    line = {"mark": {"type": "line", "color": BLUE, "point": True, "invalid": "break-paths-show-domains"},
            "encoding": {"x": x, "y": {"field": "v", "type": "quantitative", "title": y_title,
                                       "axis": COUNT_AXIS}}}
    text = {"mark": {"type": "text", "dy": -8, "fontSize": 11},
            "transform": [{"calculate": "datum.v === null ? 0 : datum.v", "as": "ty"}],
            "encoding": {"x": x, "y": {"field": "ty", "type": "quantitative"}, "text": {"field": "txt"},
                         "color": {"condition": {"test": "datum.v === null", "value": GREY}, "value": "#333"}}}
    return render({"width": width, "height": height, "data": {"values": rows}, "layer": [line, text]},
                  label=y_title)


def iso_day(at: datetime | date) -> str:
    """``YYYY-MM-DD`` of a date or datetime (a datetime's own zone)."""
    return (at.date() if isinstance(at, datetime) else at).isoformat()
