"""Small inline SVG charts for the HTML reports (no network, no JavaScript): Pareto and trend."""

from __future__ import annotations

from markupsafe import Markup, escape


def pareto(counts: dict[str, int], width: int = 680, height: int = 200) -> Markup:
    """Bars of ``{label: count}`` in the given order with the cumulative share as a line (0-100 %)."""
    items = [(str(k), float(v or 0)) for k, v in counts.items()]
    total = sum(v for _, v in items)
    if not items or not total:
        return Markup("<p><em>no data</em></p>")
    top = max(v for _, v in items)
    bw = max(4, (width - 60) // len(items))
    parts = [f'<svg width="{width}" height="{height + 70}" role="img" aria-label="Pareto chart" '
             f'xmlns="http://www.w3.org/2000/svg">']
    cum, points = 0.0, []
    for i, (label, v) in enumerate(items):
        h = int((height - 10) * v / top)
        x = 30 + i * bw
        cum += v
        points.append(f"{x + bw / 2:.1f},{height - (height - 10) * cum / total:.1f}")
        parts.append(f'<rect x="{x}" y="{height - h}" width="{max(2, bw - 4)}" height="{h}" fill="#3b6ea5">'
                     f'<title>{escape(label)}: {v:.0f} ({100 * v / total:.0f}%)</title></rect>')
        parts.append(f'<text x="{x}" y="{height + 14}" font-size="10" transform="rotate(30 {x} {height + 14})">'
                     f'{escape(label[:22])}</text>')
    parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#c0392b" stroke-width="2"/>')
    parts.append(f'<text x="0" y="12" font-size="10">{top:.0f}</text>')
    parts.append(f'<text x="{width - 34}" y="16" font-size="10" fill="#c0392b">100%</text>')
    parts.append(f'<line x1="28" y1="{height}" x2="{width}" y2="{height}" stroke="#999"/></svg>')
    return Markup("".join(parts))


def trend(series: dict[str, float | None], width: int = 680, height: int = 160, fmt: str = "{:.0f}") -> Markup:
    """A line through ``{label: value}`` in order (None is drawn as a gap), with value labels."""
    items = [(str(k), v) for k, v in series.items()]
    values = [v for _, v in items if v is not None]
    if not values:
        return Markup("<p><em>no data</em></p>")
    top = max(values) or 1
    step = (width - 60) / max(1, len(items) - 1)
    parts = [f'<svg width="{width}" height="{height + 40}" role="img" aria-label="trend" '
             f'xmlns="http://www.w3.org/2000/svg">']
    segment: list[str] = []
    for i, (label, v) in enumerate(items):
        x = 30 + i * step
        parts.append(f'<text x="{x - 14:.1f}" y="{height + 16}" font-size="10">{escape(label)}</text>')
        if v is None:
            if len(segment) > 1:
                parts.append(f'<polyline points="{" ".join(segment)}" fill="none" stroke="#3b6ea5" stroke-width="2"/>')
            segment = []
            continue
        y = height - (height - 20) * v / top
        segment.append(f"{x:.1f},{y:.1f}")
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#3b6ea5"><title>{escape(label)}: '
                     f'{escape(fmt.format(v))}</title></circle>')
        parts.append(f'<text x="{x + 4:.1f}" y="{y - 6:.1f}" font-size="10">{escape(fmt.format(v))}</text>')
    if len(segment) > 1:
        parts.append(f'<polyline points="{" ".join(segment)}" fill="none" stroke="#3b6ea5" stroke-width="2"/>')
    parts.append(f'<line x1="28" y1="{height}" x2="{width}" y2="{height}" stroke="#999"/></svg>')
    return Markup("".join(parts))


def bars(values: dict, width: int = 640, height: int = 180, fmt: str = "{:.0f}") -> str:
    """A small inline SVG bar chart of ``{label: number}`` (None counts as 0)."""
    items = [(str(k), float(v or 0)) for k, v in values.items()]
    if not items:
        return Markup("<p><em>no data</em></p>")
    top = max(v for _, v in items) or 1
    bw = max(2, (width - 40) // len(items))
    parts = [f'<svg width="{width}" height="{height + 40}" role="img" xmlns="http://www.w3.org/2000/svg">']
    for i, (label, v) in enumerate(items):
        h = int((height - 10) * v / top)
        x = 30 + i * bw
        parts.append(f'<rect x="{x}" y="{height - h}" width="{max(1, bw - 2)}" height="{h}" fill="#3b6ea5">'
                     f'<title>{escape(label)}: {escape(fmt.format(v))}</title></rect>')
        if len(items) <= 20:
            parts.append(f'<text x="{x}" y="{height + 14}" font-size="10" transform="rotate(30 {x} {height + 14})">'
                         f'{escape(label[:18])}</text>')
    parts.append(f'<text x="0" y="12" font-size="10">{escape(fmt.format(top))}</text>')
    parts.append(f'<line x1="28" y1="{height}" x2="{width}" y2="{height}" stroke="#999"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
