"""Routing: rules as data map a complaint's facts to department tasks.

Rules are tried in order; the first whose every condition holds wins and
yields one or more :class:`TaskTemplate` (parallel, or ordered by
``depends_on``). A complaint no rule matches goes to the explicit fallback
(the triage queue), so nothing crashes and nothing is silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .errors import InvalidInput
from .facts import ROUTABLE_FACTS, ComplaintFacts


@dataclass(frozen=True)
class Matcher:
    """One condition on one fact. Any listed value may match (OR).

    ``equals``: exact (after trimming); ``prefix``/``contains``: substring tests;
    ``regex``: Python regular expressions (search). ``ignore_case`` applies to all.
    """

    equals: tuple[str, ...] = ()
    prefix: tuple[str, ...] = ()
    contains: tuple[str, ...] = ()
    regex: tuple[str, ...] = ()
    ignore_case: bool = False
    _compiled: tuple[re.Pattern[str], ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        flags = re.IGNORECASE if self.ignore_case else 0
        object.__setattr__(self, "_compiled", tuple(re.compile(r, flags) for r in self.regex))

    def matches(self, value: str) -> bool:
        v = value.strip()

        def fold(s: str) -> str:
            return s.casefold() if self.ignore_case else s

        fv = fold(v)
        if any(fv == fold(e.strip()) for e in self.equals):
            return True
        if any(fv.startswith(fold(p)) for p in self.prefix):
            return True
        if any(fold(c) in fv for c in self.contains):
            return True
        return any(r.search(v) for r in self._compiled)


@dataclass(frozen=True)
class TaskTemplate:
    """What a route creates: a task for ``department``.

    ``kind`` is unique within a rule; ``depends_on`` lists kinds of the same
    rule that must be done first (the task starts ``blocked`` until then).
    """

    department: str
    kind: str
    title: str
    instructions: str = ""
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoutingRule:
    """``when`` maps fact names (see ``ROUTABLE_FACTS``) to matchers; all must hold (AND)."""

    name: str
    when: Mapping[str, Matcher]
    tasks: tuple[TaskTemplate, ...]
    severity: str | None = None

    def matches(self, facts: ComplaintFacts) -> bool:
        return all(m.matches(facts.fact(name)) for name, m in self.when.items())


@dataclass(frozen=True)
class Route:
    """The decision for one complaint. ``rule`` is None when the fallback was used."""

    rule: str | None
    tasks: tuple[TaskTemplate, ...]
    severity: str | None = None

    @property
    def is_fallback(self) -> bool:
        return self.rule is None


class Router:
    """Validated rule set. Raises :class:`InvalidInput` naming the bad rule part."""

    def __init__(self, rules: Sequence[RoutingRule], fallback: Sequence[TaskTemplate],
                 departments: frozenset[str] | None = None):
        if not fallback:
            raise InvalidInput("routing.fallback", "a fallback task (the triage queue) is required")
        for i, rule in enumerate(rules):
            where = f"routing.rules[{i}] ({rule.name})"
            if not rule.tasks:
                raise InvalidInput(where, "has no tasks")
            for name in rule.when:
                if name not in ROUTABLE_FACTS:
                    raise InvalidInput(f"{where}.when.{name}", f"unknown fact; use one of {', '.join(ROUTABLE_FACTS)}")
            _check_templates(where, rule.tasks, departments)
        _check_templates("routing.fallback", tuple(fallback), departments)
        self.rules = tuple(rules)
        self.fallback = tuple(fallback)

    def route(self, facts: ComplaintFacts) -> Route:
        """The first matching rule's tasks, or the fallback."""
        for rule in self.rules:
            if rule.matches(facts):
                return Route(rule.name, rule.tasks, rule.severity)
        return Route(None, self.fallback, None)


def _check_templates(where: str, tasks: Sequence[TaskTemplate], departments: frozenset[str] | None) -> None:
    kinds = [t.kind for t in tasks]
    if len(set(kinds)) != len(kinds):
        raise InvalidInput(f"{where}.tasks", f"task kinds must be unique within a rule: {kinds}")
    for t in tasks:
        if departments is not None and t.department not in departments:
            raise InvalidInput(f"{where}.tasks.{t.kind}.department", f"unknown department {t.department!r}")
        for dep in t.depends_on:
            if dep not in kinds:
                raise InvalidInput(f"{where}.tasks.{t.kind}.depends_on", f"no task of kind {dep!r} in this rule")
            if dep == t.kind:
                raise InvalidInput(f"{where}.tasks.{t.kind}.depends_on", "a task cannot depend on itself")
    _check_acyclic(where, tasks)


def _check_acyclic(where: str, tasks: Sequence[TaskTemplate]) -> None:
    deps = {t.kind: set(t.depends_on) for t in tasks}
    done: set[str] = set()
    while deps:
        ready = [k for k, d in deps.items() if d <= done]
        if not ready:
            raise InvalidInput(f"{where}.tasks", f"depends_on forms a cycle among {sorted(deps)}")
        for k in ready:
            done.add(k)
            del deps[k]
