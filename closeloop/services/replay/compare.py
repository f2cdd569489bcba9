"""What-if: the same export replayed under two configurations, figures side by side.

:func:`compare` takes two replay summaries (:func:`closeloop.services.replay.report.build_summary`) and
returns the differences a manager weighs before changing a policy::

    {"a": label, "b": label,
     "totals": {figure: {"a": n, "b": n, "change": b - a}},   # figures below
     "labels": {figure: what it counts, as the CLI's table names it},
     "departments": {name: {"a": hours | None, "b": hours | None, "change": ... | None}}}

Totals: ``breaches`` (tasks breached so far, all departments), ``escalations``, ``reminders``; the complaint's
promise to the customer, its resolution due date (``complaints.resolution_promise`` of the summary):
``resolution_promise_met`` (complaints resolved by it), ``resolution_promise_breached`` (resolved late or open
past it; open complaints not due yet are in neither), ``resolution_promise_breach_notices`` (the notifications
its breach sent). Not the tracked promises to the customer (call-backs, documents: ``customers.promises``).
Departments: median business hours to complete a task on the department's calendar (None: no task completed).
"""

from __future__ import annotations

LABELS = {
    "breaches": "tasks breached so far",
    "escalations": "escalations",
    "reminders": "reminders",
    "resolution_promise_met": "customer promise (resolution due date) met",
    "resolution_promise_breached": "customer promise (resolution due date) breached so far",
    "resolution_promise_breach_notices": "customer promise (resolution due date) breach notices",
}
TOTALS = tuple(LABELS)


def totals(summary: dict) -> dict[str, int]:
    """The compared totals of one summary (see the module docstring)."""
    n = summary["notifications"]
    deps = summary["tasks"]["by_department"]
    promise = summary["complaints"]["resolution_promise"]
    return {"breaches": sum(v["breached_so_far_count"] for v in deps.values()),
            "escalations": n.get("escalations", sum(n["escalations_by_level"].values())),
            "reminders": n["reminders"], "resolution_promise_met": promise["met"],
            "resolution_promise_breached": promise["breached"],
            "resolution_promise_breach_notices": n["resolution_promise_breach_notices"]}


def compare(a: dict, b: dict, *, labels: tuple[str, str] = ("a", "b")) -> dict:
    """Side-by-side figures of summaries ``a`` and ``b`` of the same export (shape in the module docstring)."""
    ta, tb = totals(a), totals(b)
    deps_a, deps_b = a["tasks"]["by_department"], b["tasks"]["by_department"]
    departments = {}
    for d in sorted(set(deps_a) | set(deps_b)):
        ha = deps_a.get(d, {}).get("median_business_hours_to_complete")
        hb = deps_b.get(d, {}).get("median_business_hours_to_complete")
        departments[d] = {"a": ha, "b": hb, "change": None if ha is None or hb is None else round(hb - ha, 2)}
    return {"a": labels[0], "b": labels[1],
            "totals": {k: {"a": ta[k], "b": tb[k], "change": tb[k] - ta[k]} for k in TOTALS},
            "labels": dict(LABELS), "departments": departments}
