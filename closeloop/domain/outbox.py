"""Outbox message statuses and dead-letter reasons (pure: stdlib only).

A message leaving the process (see :mod:`closeloop.services.engine.delivery`) moves
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


#: A dead letter's reason as the operations manager reads it, per language (the alert's text).
DEAD_REASON_LABELS: dict[str, dict[DeadReason, str]] = {
    "en": {r: r.value for r in DeadReason},
    "zh": {DeadReason.EXHAUSTED: "重试次数已用尽", DeadReason.REJECTED: "接收方拒收",
           DeadReason.ABANDONED: "处理进程多次中断"},
}


def dead_reason_label(reason: str, language: str) -> str:
    """``reason`` (a :class:`DeadReason` value) in ``language`` (falls back to English)."""
    labels = DEAD_REASON_LABELS.get(language, DEAD_REASON_LABELS["en"])
    return labels.get(DeadReason(reason), reason)


READY_STATUSES: tuple[OutboxStatus, ...] = (OutboxStatus.PENDING, OutboxStatus.UNKNOWN)
