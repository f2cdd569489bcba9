"""Outbox message statuses and dead-letter reasons (pure: stdlib only).

A message leaving the process (see :mod:`closeloop.services.delivery`) moves
``pending -> sending -> delivered``; a transient failure puts it back to
``pending`` (the receiver did not get it) or ``unknown`` (it may have: resent
with the same idempotency key). A message that will not be sent without a
person's decision is ``dead`` (the dead letter), with a :class:`DeadReason`;
``closeloop outbox retry`` puts it back to ``pending`` with the same key.
"""

from __future__ import annotations

from enum import StrEnum


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    UNKNOWN = "unknown"
    DELIVERED = "delivered"
    DEAD = "dead"


class DeadReason(StrEnum):
    """Why a message was dead-lettered.

    - ``exhausted``: every attempt of the retry schedule failed (the receiver was
      down, or kept answering 5xx/429, for the whole schedule);
    - ``rejected``: the receiver refused it for good (a 4xx other than 408/429) or
      the target is unusable (bad URL, no sender for the channel);
    - ``abandoned``: claimed again and again by workers that died before recording
      an outcome (a message that crashes its worker is not retried forever).
    """

    EXHAUSTED = "exhausted"
    REJECTED = "rejected"
    ABANDONED = "abandoned"


READY_STATUSES: tuple[OutboxStatus, ...] = (OutboxStatus.PENDING, OutboxStatus.UNKNOWN)
