"""Domain errors. Every error names what was wrong, so a CLI, the API or a page can show it as is.

The tree, and where each error becomes an answer (one screen; ``tests/unit/test_error_tree.py`` checks the
three mappings against this table)::

    error                              API (closeloop/api/errors.py)   page (web/render.py)   CLI exit (cli/common.py)
    DomainError                        422 invalid_input               422                    1
    ├── InvalidInput(field, problem)   422 invalid_input + field       422                    2
    │   ├── InvalidInputs(problems)    422 invalid_input + field       422                    2
    │   ├── NaiveDatetimeError         422 invalid_input + field       422                    2
    │   └── UnknownFormat              422 invalid_input + field       422                    2
    ├── IllegalTransition              409 illegal_transition          409                    1
    ├── NotFound                       404 not_found                   404                    1
    ├── Conflict                       409 conflict (field version)    409                    1
    ├── MergeRejected                  409 merge_rejected              409                    1
    ├── NotPermitted                   403 forbidden                   403                    1
    └── LinkRefused                    403 / 410 page (its route)      -                      -

- ``UnknownFormat`` lives in ``integrations/exports.py`` (an export format nobody reads), ``LinkRefused`` in
  ``services/customers/links.py`` (a customer's verdict link that does not verify; its route answers with a page).
- Outside the tree, by design: ``ConfigError`` (``closeloop/config``; a bad configuration file stops start-up,
  exit 2), ``ImportFailed`` (``services/intake/importing.py``; carries the import report with every bad row's line,
  exit 1), ``DataLossRefused`` (``models/migrate.py``; a downgrade that would drop data, exit 1). A page or API
  request never sees them.
- A request the framework refuses before a service runs (pydantic validation) answers 422 ``validation_error``.
"""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    """Base class of every rule violation raised by the domain and the services."""


class IllegalTransition(DomainError):
    """A trigger that is not allowed from the current state.

    Attributes: ``entity`` ("complaint", "task"), ``state`` and ``trigger`` (strings), ``allowed`` (the
    triggers the machine accepts in ``state``; after :meth:`only`, what the caller's interface offers of them).
    """

    def __init__(self, entity: str, state: str, trigger: str, allowed: list[str], *, noun: str = "trigger",
                 narrowed: bool = False):
        self.entity, self.state, self.trigger, self.allowed = entity, state, trigger, allowed
        if allowed:
            hint = f"allowed {noun}s: {', '.join(allowed)}"
        elif narrowed:
            hint = f"no {noun} you can use is allowed in this state"
        else:
            hint = "allowed triggers: none (terminal state)"
        super().__init__(f"{entity} in state '{state}' cannot take trigger '{trigger}'; {hint}")

    def only(self, usable: Mapping[str, str], *, noun: str = "trigger") -> IllegalTransition:
        """This refusal as an interface shows it: of the allowed triggers only those in ``usable``, each under the
        name ``usable`` gives it there (``{"acknowledge": "tasks ack"}``), sorted; ``noun`` names them in the message
        (``"command"``). The machines' other triggers are the system's (a task's ``block``, ``reopen``): listing
        them tells a person to do what they cannot. The domain knows no interface: the API and the command line
        call this with their own actions. Nothing left: the message says there is nothing the caller can use."""
        shown = sorted({usable[t] for t in self.allowed if t in usable})
        return IllegalTransition(self.entity, self.state, self.trigger, shown, noun=noun, narrowed=True)


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

    @property
    def problems(self) -> tuple[InvalidInput, ...]:
        """Every rule broken, each naming its field: this one (:class:`InvalidInputs` lists several)."""
        return (self,)


class InvalidInputs(InvalidInput):
    """Input that breaks several rules at once: ``problems`` (one :class:`InvalidInput` each, in the order
    checked, at least one); ``field`` and ``problem`` are the first's, the message lists them all
    (``"source: ...; tags: ..."``). ``given``: the refused object when the raiser has one (the import checks
    its rules that need the database or the clock on it too, to report every problem of a row at once)."""

    def __init__(self, problems: list[InvalidInput], given: object = None):
        first = problems[0]
        super().__init__(first.field, first.problem)
        self.args = ("; ".join(str(p) for p in problems),)
        self.all, self.given = tuple(problems), given

    @property
    def problems(self) -> tuple[InvalidInput, ...]:
        return self.all


def refuse_nul(field: str, value: str | None) -> None:
    """``InvalidInput(field, "contains a NUL character")`` when ``value`` holds one: the shared check of text
    that reaches a SQL comparison (PostgreSQL text cannot hold NUL; SQLite would just match nothing)."""
    if value is not None and "\x00" in value:
        raise InvalidInput(field, "contains a NUL character")


class NaiveDatetimeError(InvalidInput, ValueError):
    """A datetime without an offset reached a boundary that stores instants (``models.types.UTCDateTime``);
    ``field`` is ``datetime`` unless the caller knows the column."""

    def __init__(self, problem: str, field: str = "datetime"):
        super().__init__(field, problem)


class MergeRejected(DomainError):
    """A merge that would lose a complaint (self-merge, cycle, merging into a rejected one)."""


class NotPermitted(DomainError):
    """The caller's role may not do this (the API answers 403). ``role`` is the caller's role; ``owners``, when
    the refusal is that the caller's department no longer owns the work (its task was transferred away or
    cancelled), the departments that own it now (sorted; empty when none does)."""

    def __init__(self, role: str, problem: str, *, owners: tuple[str, ...] = ()):
        self.role, self.problem, self.owners = role, problem, owners
        super().__init__(f"role {role!r}: {problem}")
