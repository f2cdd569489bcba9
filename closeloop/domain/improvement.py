"""Improvement records (CAPA): root causes, the record lifecycle and the effectiveness rule.

Lifecycle (DESIGN.md §3, ISO 10002 improvement, CAPA verification after implementation)::

    proposed -approve-> approved -start-> in_progress -implement-> implemented
    implemented -begin_verification-> verifying -confirm_effective-> effective
    verifying -confirm_ineffective-> ineffective -rework-> in_progress
    proposed | approved -reject-> rejected        (not worth a fix; a reason is required by the service)

``effective`` and ``rejected`` are terminal.

The effectiveness check compares the *rate* of matching complaints (per day)
in an equal window before implementation and after it: effective when the
after-rate fell by at least ``min_reduction`` of the before-rate, with at least
``min_before`` complaints in the before-window; otherwise ineffective, or
"not enough data" when the before-window is too thin to judge.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .errors import InvalidInput
from .guards import ACTIONS_DONE, Guard, needs_reason, needs_root_cause
from .machine import Machine

#: Default root-cause taxonomy (configurable): codes and what they mean.
ROOT_CAUSES: dict[str, str] = {
    "product_defect": "product defect",
    "process_gap": "process gap",
    "policy_rule": "policy or compensation rule",
    "information": "information and communication",
    "system": "system or tooling",
    "third_party": "partner or third party",
    "customer_side": "customer side",
    "force_majeure": "force majeure (weather, a flight change)",
    "undetermined": "undetermined",  # the form says a note is required (web i18n rootcause.undetermined)
}


class ImprovementStatus(StrEnum):
    PROPOSED = "proposed"
    APPROVED = "approved"
    IN_PROGRESS = "in_progress"
    IMPLEMENTED = "implemented"
    VERIFYING = "verifying"
    EFFECTIVE = "effective"
    INEFFECTIVE = "ineffective"
    REJECTED = "rejected"


class ImprovementTrigger(StrEnum):
    APPROVE = "approve"
    START = "start"
    IMPLEMENT = "implement"
    BEGIN_VERIFICATION = "begin_verification"
    CONFIRM_EFFECTIVE = "confirm_effective"
    CONFIRM_INEFFECTIVE = "confirm_ineffective"
    REWORK = "rework"
    REJECT = "reject"


_S, _T = ImprovementStatus, ImprovementTrigger

IMPROVEMENT_EDGES: dict[tuple[ImprovementStatus, ImprovementTrigger], ImprovementStatus] = {
    (_S.PROPOSED, _T.APPROVE): _S.APPROVED,
    (_S.PROPOSED, _T.REJECT): _S.REJECTED,
    (_S.APPROVED, _T.REJECT): _S.REJECTED,
    (_S.APPROVED, _T.START): _S.IN_PROGRESS,
    (_S.IN_PROGRESS, _T.IMPLEMENT): _S.IMPLEMENTED,
    (_S.IMPLEMENTED, _T.BEGIN_VERIFICATION): _S.VERIFYING,
    (_S.VERIFYING, _T.CONFIRM_EFFECTIVE): _S.EFFECTIVE,
    (_S.VERIFYING, _T.CONFIRM_INEFFECTIVE): _S.INEFFECTIVE,
    (_S.INEFFECTIVE, _T.REWORK): _S.IN_PROGRESS,
}

#: The rules checked before an improvement trigger (``closeloop.domain.guards``); each says why.
IMPROVEMENT_GUARDS: dict[ImprovementTrigger, tuple[Guard, ...]] = {
    _T.APPROVE: (needs_root_cause("approve with one", "a corrective action treats a cause (ISO 9001 10.2.1 b)"),),
    _T.REJECT: (needs_reason("rejecting a record", "the complaints it explained keep the answer why not"),),
    _T.IMPLEMENT: (ACTIONS_DONE,),
}

IMPROVEMENT_MACHINE: Machine[ImprovementStatus, ImprovementTrigger] = Machine(
    entity="improvement", edges=IMPROVEMENT_EDGES, terminal=frozenset({_S.EFFECTIVE, _S.REJECTED}),
    guards=IMPROVEMENT_GUARDS)

transition = IMPROVEMENT_MACHINE.fire


def check_root_cause(code: str, note: str | None, taxonomy: dict[str, str] = ROOT_CAUSES) -> str:
    """Validate a root-cause code (``undetermined`` needs a note). Raises :class:`InvalidInput` naming
    ``root_cause`` or ``root_cause_detail`` (the stored field the note goes to, as the API names it)."""
    base = code.split(".", 1)[0]  # optional sub-code: "product_defect.battery"
    if base not in taxonomy:
        raise InvalidInput("root_cause", f"unknown root cause {code!r}; use one of {', '.join(taxonomy)}")
    if base == "undetermined" and not (note and note.strip()):
        raise InvalidInput("root_cause_detail", "an undetermined root cause needs a note saying what was checked")
    return code


@dataclass(frozen=True)
class EffectivenessRule:
    """``min_reduction``: fraction the rate must fall (0.3 = 30%); ``min_before``: complaints needed before."""

    min_reduction: float = 0.3
    min_before: int = 5

    def __post_init__(self) -> None:
        if not 0 < self.min_reduction <= 1:
            raise InvalidInput("min_reduction", "must be a fraction in (0, 1]")
        if self.min_before < 1:
            raise InvalidInput("min_before", "must be at least 1")


@dataclass(frozen=True)
class EffectivenessResult:
    """``decision``: "effective", "ineffective" or "not_enough_data"; rates are complaints per day."""

    decision: str
    before: int
    after: int
    rate_before: float
    rate_after: float
    reduction: float | None


def evaluate_effectiveness(before: int, after: int, before_days: float, after_days: float,
                           rule: EffectivenessRule = EffectivenessRule()) -> EffectivenessResult:
    """Decide whether a fix worked from matching-complaint counts in the windows before and after it.

    Raises :class:`InvalidInput` for negative counts or non-positive window lengths.
    """
    if before < 0 or after < 0:
        raise InvalidInput("count", "complaint counts cannot be negative")
    if not (before_days > 0 and after_days > 0):
        raise InvalidInput("window", "both windows must be longer than zero days")
    rate_before, rate_after = before / before_days, after / after_days
    if before < rule.min_before:
        return EffectivenessResult("not_enough_data", before, after, rate_before, rate_after, None)
    reduction = 1 - rate_after / rate_before
    # a tiny epsilon so that exactly the threshold counts as met despite float rounding
    decision = "effective" if reduction >= rule.min_reduction - 1e-12 else "ineffective"
    return EffectivenessResult(decision, before, after, rate_before, rate_after, reduction)
