"""Promises to the customer as first-class commitments (issue 13 §5).

"The XX department will call you back by Friday": who (a department, optionally a person), what
(call back, send a document, refund, other), by when (an instant on the department's business
calendar). The failure this product exists to end is the promise nobody kept, so a promise is
kept only by evidence: a recorded contact with the customer (an outbound message on the
complaint, made at or after the promise) or a finished action (a completed task of the promising
department). Past its due instant an open promise is broken (the sweep fires ``break``); a broken
promise can still be kept late (``keep`` from broken), which the review counts as kept late.

Graph::

    open -keep-> kept          open -break-> broken -keep-> kept (late)
    open -cancel-> cancelled   (the complaint was merged, or the promise was recorded by mistake)
"""

from __future__ import annotations

from enum import StrEnum

from .machine import Machine


class PromiseStatus(StrEnum):
    OPEN = "open"
    KEPT = "kept"
    BROKEN = "broken"
    CANCELLED = "cancelled"


class PromiseTrigger(StrEnum):
    KEEP = "keep"
    BREAK = "break"
    CANCEL = "cancel"


class PromiseKind(StrEnum):
    """What was promised."""

    CALL_BACK = "call_back"
    SEND_DOCUMENT = "send_document"
    REFUND = "refund"
    OTHER = "other"


_S, _T = PromiseStatus, PromiseTrigger

PROMISE_MACHINE: Machine[PromiseStatus, PromiseTrigger] = Machine(
    entity="promise",
    edges={
        (_S.OPEN, _T.KEEP): _S.KEPT,
        (_S.OPEN, _T.BREAK): _S.BROKEN,
        (_S.OPEN, _T.CANCEL): _S.CANCELLED,
        (_S.BROKEN, _T.KEEP): _S.KEPT,
    },
    terminal=frozenset({_S.KEPT, _S.CANCELLED}),
)
