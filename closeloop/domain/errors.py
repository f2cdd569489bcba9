"""Domain errors. Every error names what was wrong, so a CLI or API can show it as is."""

from __future__ import annotations


class DomainError(Exception):
    """Base class of every rule violation raised by the domain and the services."""


class IllegalTransition(DomainError):
    """A trigger that is not allowed from the current state.

    Attributes: ``entity`` ("complaint", "task"), ``state`` and ``trigger`` (strings).
    """

    def __init__(self, entity: str, state: str, trigger: str, allowed: list[str]):
        self.entity, self.state, self.trigger, self.allowed = entity, state, trigger, allowed
        hint = ", ".join(allowed) if allowed else "none (terminal state)"
        super().__init__(
            f"{entity} in state '{state}' cannot take trigger '{trigger}'; allowed triggers: {hint}"
        )


class NotFound(DomainError):
    """A referenced record does not exist."""

    def __init__(self, entity: str, key: object):
        self.entity, self.key = entity, key
        super().__init__(f"{entity} {key!r} not found")


class Conflict(DomainError):
    """A concurrent change won: the record was modified since it was read (optimistic locking)."""


class InvalidInput(DomainError):
    """Input that breaks a rule; ``field`` names the offending field."""

    def __init__(self, field: str, problem: str):
        self.field, self.problem = field, problem
        super().__init__(f"{field}: {problem}")


class MergeRejected(DomainError):
    """A merge that would lose a complaint (self-merge, cycle, merging into a rejected one)."""


class NotPermitted(DomainError):
    """The caller's role may not do this (the API answers 403). ``role`` is the caller's role."""

    def __init__(self, role: str, problem: str):
        self.role, self.problem = role, problem
        super().__init__(f"role {role!r}: {problem}")
