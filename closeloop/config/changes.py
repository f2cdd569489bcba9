"""Which open work a configuration change can reach (K10: flag only that for rescheduling).

:func:`policy_scope` compares two validated configurations by the inputs the scheduler and the clocks
read (``closeloop/services/engine/schedule.py`` and ``clocks.py``: SLA targets per severity and per
department, calendars, the department -> calendar map, the escalation rules, follow-up days) and answers
with a :class:`PolicyScope`. A change it cannot place reaches everything (the safe default): a section it
does not know, the customer calendar, the escalation ladder, reminders or paging. Changes that reach no
timer (routing rules, triage, de-duplication, who is notified, display names, webhook signing secrets) reach
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import Config

#: Sections read only when a complaint arrives (routing and triage): no open complaint's timers depend on them.
INTAKE_ONLY = frozenset({"rules", "fallback", "triage", "dedupe"})
#: Sections read only when a message is delivered (which secret signs a webhook): no timer depends on them.
DELIVERY_ONLY = frozenset({"webhooks"})
#: Sections whose changes :func:`policy_scope` places; any other changed section reaches everything.
PLACED = frozenset({"sla", "calendars", "departments", "escalation", "follow_up"})
#: Department fields that no timer or due instant reads (recipients and labels).
DEPARTMENT_LABELS = frozenset({"display_name", "lead", "notify", "language"})
#: Escalation fields read when a notice is sent, not when it is scheduled (recipients and their calendars).
ESCALATION_RECIPIENTS = frozenset({"operations_manager", "crisis_owner", "default_notify"})


@dataclass(frozen=True)
class PolicyScope:
    """The open complaints a change can reach: all of them, or those of ``severities``, those with a task in
    ``departments``, and those of severity ``s`` with a task in department ``d`` for ``(d, s)`` in ``pairs``.
    ``improvements``: the improvement records' timers too (any change outside intake-only sections)."""

    all: bool = False
    severities: frozenset[str] = frozenset()
    departments: frozenset[str] = frozenset()
    pairs: frozenset[tuple[str, str]] = frozenset()
    improvements: bool = False

    @property
    def empty(self) -> bool:
        """True when no open complaint can be reached."""
        return not (self.all or self.severities or self.departments or self.pairs)


@dataclass
class _Found:
    all: bool = False
    severities: set[str] = field(default_factory=set)
    departments: set[str] = field(default_factory=set)
    pairs: set[tuple[str, str]] = field(default_factory=set)


def _differing(old: Mapping[str, Any], new: Mapping[str, Any]) -> set[str]:
    """The keys present in one mapping only, or with different values."""
    return {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}


def policy_scope(old: Config, new: Config) -> PolicyScope:
    """What switching from ``old`` to ``new`` can reach (see the module docstring); an empty scope when only
    comments, intake-only sections or recipients changed."""
    a, b = old.model.model_dump(), new.model.model_dump()
    changed = _differing(a, b) - DELIVERY_ONLY
    found = _Found(all=bool(changed - INTAKE_ONLY - PLACED))
    if old.follow_up_department != new.follow_up_department:
        found.all = True
    _sla(a["sla"], b["sla"], found)
    _calendars(old, new, _differing(a["calendars"], b["calendars"]), found)
    _departments(a["departments"], b["departments"], found)
    _escalation(a["escalation"], b["escalation"], found)
    fa, fb = a["follow_up"], b["follow_up"]
    found.severities |= _differing(fa["business_days"], fb["business_days"])
    if _differing(fa, fb) - {"business_days"}:
        found.all = True
    if found.all:
        return PolicyScope(all=True, improvements=True)
    return PolicyScope(False, frozenset(found.severities), frozenset(found.departments), frozenset(found.pairs),
                       improvements=bool(changed - INTAKE_ONLY))


def _sla(a: dict, b: dict, found: _Found) -> None:
    if a["at_risk_ratio"] != b["at_risk_ratio"] or a["customer_calendar"] != b["customer_calendar"]:
        found.all = True
    found.severities |= _differing(a["targets"], b["targets"]) | _differing(a["customer"], b["customer"])
    for dep in a["departments"].keys() | b["departments"].keys():
        sevs = _differing(a["departments"].get(dep, {}), b["departments"].get(dep, {}))
        found.pairs |= {(dep, s) for s in sevs}


def _calendars(old: Config, new: Config, names: set[str], found: _Found) -> None:
    """A changed calendar reaches the departments on it; the customer's or the follow-up department's
    (complaint-level clocks and timers) reaches everything."""
    for cfg in (old, new):
        whole = {cfg.model.sla.customer_calendar}
        fu = cfg.departments.get(cfg.follow_up_department)
        if fu is not None:
            whole.add(fu.calendar)
        if names & whole:
            found.all = True
        found.departments |= {d for d, m in cfg.departments.items() if m.calendar in names}


def _departments(a: dict, b: dict, found: _Found) -> None:
    for dep in _differing(a, b):
        da, db = a.get(dep), b.get(dep)
        if da is None or db is None or _differing(da, db) - DEPARTMENT_LABELS:
            found.departments.add(dep)


def _escalation(a: dict, b: dict, found: _Found) -> None:
    """Crisis severities reach the severities that joined or left; any other scheduling rule reaches all."""
    found.severities |= set(a["crisis_severities"]) ^ set(b["crisis_severities"])
    if _differing(a, b) - ESCALATION_RECIPIENTS - {"crisis_severities"}:
        found.all = True


__all__ = ["PolicyScope", "policy_scope", "INTAKE_ONLY"]
