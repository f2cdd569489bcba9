"""A tiny state-machine kernel shared by complaints, tasks and (later) improvement records.

A machine is data: a mapping ``(state, trigger) -> new state``. :func:`fire`
is the only way a status changes; it returns a :class:`TransitionRecord` the
service stores as an audit row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Generic, TypeVar

from .errors import IllegalTransition, InvalidInput
from .guards import Facts, Guard

S = TypeVar("S", bound=StrEnum)
T = TypeVar("T", bound=StrEnum)


@dataclass(frozen=True)
class TransitionRecord:
    """One accepted state change, ready to be stored in the audit log.

    ``at`` is a UTC-aware instant; ``actor`` is who caused it ("system" for automation).
    """

    entity: str
    from_state: str
    to_state: str
    trigger: str
    at: datetime
    actor: str
    reason: str | None = None
    data: Mapping[str, object] = field(default_factory=dict)


def require_aware(value: datetime, name: str = "at") -> datetime:
    """Return ``value`` if it carries a UTC offset; raise :class:`InvalidInput` naming ``name`` otherwise."""
    if value.__class__ is datetime and value.tzinfo is UTC:
        return value
    if not isinstance(value, datetime):
        raise InvalidInput(name, f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(name, "naive datetime; an offset or UTC is required")
    return value


@dataclass(frozen=True)
class Machine(Generic[S, T]):
    """An edge table for one kind of entity, with the guards of its triggers.

    ``edges`` maps ``(state, trigger)`` to the next state; anything absent is illegal. ``guards`` maps a
    trigger to the rules checked once the edge is legal (:mod:`closeloop.domain.guards`).
    """

    entity: str
    edges: Mapping[tuple[S, T], S]
    terminal: frozenset[S]
    guards: Mapping[T, tuple[Guard, ...]] = field(default_factory=dict)

    def allowed(self, state: S) -> list[str]:
        """Triggers accepted in ``state``, in a stable order."""
        return sorted(str(t) for (s, t) in self.edges if s == state)

    def next_state(self, state: S, trigger: T) -> S:
        """The state ``trigger`` leads to from ``state``; raises :class:`IllegalTransition`."""
        try:
            return self.edges[(state, trigger)]
        except KeyError:
            raise IllegalTransition(self.entity, str(state), str(trigger), self.allowed(state)) from None

    def check_guards(self, trigger: T, facts: Facts) -> None:
        """Raise :class:`InvalidInput` (the guard's field and problem) for the first guard of ``trigger``
        that ``facts`` do not meet."""
        for guard in self.guards.get(trigger, ()):
            problem = guard.check(facts)
            if problem is not None:
                raise InvalidInput(guard.field, problem)

    def fire(
        self,
        state: S,
        trigger: T,
        *,
        at: datetime,
        actor: str,
        reason: str | None = None,
        data: Mapping[str, object] | None = None,
        facts: Facts | None = None,
    ) -> TransitionRecord:
        """Apply ``trigger`` to ``state`` at the UTC-aware instant ``at``.

        The edge table is checked first, then the trigger's guards against ``facts`` (default: only
        ``reason`` known, so a guard on anything else refuses). Raises :class:`IllegalTransition` (naming
        state and trigger), :class:`InvalidInput` naming the failed guard's field, or for a naive ``at`` or
        an empty ``actor``.
        """
        require_aware(at, "at")
        if not actor or not actor.strip():
            raise InvalidInput("actor", "every transition needs an actor")
        if len(actor) > 200:
            raise InvalidInput("actor", "longer than 200 characters")
        new = self.next_state(state, trigger)
        self.check_guards(trigger, facts if facts is not None else Facts(subject=self.entity, reason=reason))
        return TransitionRecord(
            entity=self.entity,
            from_state=str(state),
            to_state=str(new),
            trigger=str(trigger),
            at=at,
            actor=actor,
            reason=reason,
            data=dict(data or {}),
        )
