"""Guards: the rules checked before a status change, declared as data beside each edge table.

The idea of Prefect's orchestration rules (each declares what it guards and rejects with a reason),
without their class weight: a :class:`Guard` names the field it is about, says in one line why the
rule exists, and checks the :class:`Facts` of one transition. :meth:`Machine.fire
<closeloop.domain.machine.Machine.fire>` runs the guards declared for the trigger after the edge
table accepted it, and raises :class:`~closeloop.domain.errors.InvalidInput` naming the guard's field
and the problem. The tables themselves live in each machine module (``TASK_GUARDS``,
``COMPLAINT_GUARDS``, ``IMPROVEMENT_GUARDS``), so "resolve needs a root cause" is found next to the
``resolve`` edge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .task_kinds import SystemTaskKind


@dataclass(frozen=True)
class Facts:
    """What a guard may look at, gathered by the one transition kernel from the row and the request.

    - ``subject``: how messages name the entity ("complaint 12", "task 7").
    - ``reason``: the reason given with the trigger (None or blank when none was given).
    - ``root_cause``: the root cause recorded on the row (complaint or improvement record) or given
      with the trigger (completing a ``root-cause`` task).
    - ``kind``: the task kind (``root-cause``, ``follow-up``, ...), None for other entities.
    - ``actions_finished`` / ``actions_open``: an improvement record's action tasks done / still active;
      after a ``rework`` only the actions finished since the latest rework count as finished (the failed
      implementation's actions are what the ineffective check judged).
    - ``reworked``: the improvement record was reworked (after an ineffective check) at least once.
    """

    subject: str = "it"
    reason: str | None = None
    root_cause: str | None = None
    kind: str | None = None
    actions_finished: int = 0
    actions_open: int = 0
    reworked: bool = False


@dataclass(frozen=True)
class Guard:
    """One rule: ``check(facts)`` returns the problem (text) or None when the rule holds."""

    field: str
    why: str
    check: Callable[[Facts], str | None]


def needs_reason(doing: str, why: str) -> Guard:
    """A trigger that must carry a non-blank reason; the problem reads "<doing> needs a reason"."""
    return Guard("reason", why, lambda f: None if f.reason and f.reason.strip() else f"{doing} needs a reason")


def needs_root_cause(doing: str, why: str) -> Guard:
    """A trigger allowed only once a root cause is recorded; names ``root_cause``."""
    return Guard("root_cause", why,
                 lambda f: None if f.root_cause else f"{f.subject} has no root cause; {doing}")


def _actions_done(f: Facts) -> str | None:
    if not f.actions_finished:
        if f.reworked:
            return f"{f.subject} has no action finished since its rework; add and complete one first"
        return f"{f.subject} has no finished action; add and complete one first"
    if f.actions_open:
        return f"{f.subject} still has {f.actions_open} open action(s)"
    return None


#: An improvement record is implemented only when its actions are (ISO 9001 10.2.1 d: review the
#: effectiveness of any corrective action taken, which needs one taken).
ACTIONS_DONE = Guard("actions", "a record is implemented by its actions: at least one finished (since the "
                     "latest rework, if any), none open",
                     _actions_done)


def _root_cause_task(f: Facts) -> str | None:
    if f.kind == SystemTaskKind.ROOT_CAUSE and not f.root_cause:
        return f"{f.subject} asks for the root cause; complete it with one"
    return None


#: A ``root-cause`` task exists only to obtain the root cause: completing it without one would leave the
#: complaint unresolvable (see ``closeloop.services.capa.root_cause``).
ROOT_CAUSE_TASK = Guard("root_cause", "a root-cause task is done only when the root cause is known",
                        _root_cause_task)
