"""The named figures shared by the replay report, the monthly review and the dashboard.

One definition per metric; every page that shows one of these uses the name and the text below
(the templates print :data:`DEFINITIONS` as footnotes), so "SLA compliance" cannot mean two
things on two pages.
"""

from __future__ import annotations

from enum import StrEnum


class Metric(StrEnum):
    """Names of the shared SLA figures."""

    RESOLVED_WITHIN_TARGET = "resolved_within_target"
    BREACHED_SO_FAR = "breached_so_far"


DEFINITIONS: dict[Metric, str] = {
    Metric.RESOLVED_WITHIN_TARGET: (
        "resolved within target, of tasks resolved: tasks done within their resolve target (business "
        "hours on the department's calendar, pauses excluded) divided by tasks done; tasks still open "
        "are not in it. No tasks done: no data."),
    Metric.BREACHED_SO_FAR: (
        "breached so far, of all tasks: tasks past their resolve target, done late or still open past "
        "due at the report's instant, divided by every task with a target (transferred and cancelled "
        "tasks left out)."),
}


def share(part: int, whole: int) -> float | None:
    """``part / whole`` rounded to 4 places; None (no data) when ``whole`` is 0."""
    return round(part / whole, 4) if whole else None


def worst_first(rows: dict[str, dict], key: str = "resolved_within_target") -> dict[str, dict]:
    """``rows`` (department -> figures) ordered worst first: lowest ``key`` share first, then most
    breaches so far; departments without data (``key`` None) last, by name."""
    return dict(sorted(rows.items(), key=lambda kv: (kv[1].get(key) is None, kv[1].get(key) or 0,
                                                     -(kv[1].get("breached_so_far_count") or 0), kv[0])))
