"""Compensation entries: statuses, triggers and the edge table.

Graph::

    pending_approval -approve-> approved     (by a role that may approve, never the requester)
    pending_approval -reject-> rejected

An entry within the policy cap is created ``approved``; one above it waits as ``pending_approval``
(issue 14: the cap applies per entry and per complaint across its entries). Who may decide is a service
rule (the caller's authenticated role); the edge table says only that a decision is made once.
"""

from __future__ import annotations

from enum import StrEnum

from .machine import Machine


class CompensationStatus(StrEnum):
    APPROVED = "approved"
    PENDING = "pending_approval"
    REJECTED = "rejected"


class CompensationTrigger(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


COMPENSATION_MACHINE: Machine[CompensationStatus, CompensationTrigger] = Machine(
    entity="compensation",
    edges={
        (CompensationStatus.PENDING, CompensationTrigger.APPROVE): CompensationStatus.APPROVED,
        (CompensationStatus.PENDING, CompensationTrigger.REJECT): CompensationStatus.REJECTED,
    },
    terminal=frozenset({CompensationStatus.REJECTED}),
)
