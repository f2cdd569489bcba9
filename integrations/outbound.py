"""The delivery port: what a sender is given, what it answers. Standard library only.

:mod:`closeloop.services.engine.delivery` types against :class:`Sender` and these two
dataclasses; the implementations (webhook over httpx, Apprise, capture file)
live in :mod:`integrations.senders`, which re-exports all of this. Keeping the
port free of httpx lets the services layer import it without breaking the
"services know nothing of HTTP" import contract (import-linter also forbids
indirect imports).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Outcome = Literal["delivered", "retry", "failed", "unknown"]
OUTCOMES: tuple[str, ...] = ("delivered", "retry", "failed", "unknown")


@dataclass(frozen=True)
class OutgoingMessage:
    """One claimed outbox row, as handed to a sender.

    ``attempt`` is the attempt this send will be once its outcome is recorded (1 on
    the first try; a claim abandoned by a dead worker is not an attempt). ``claim``
    is the row's claim number: it fences the claim, so a late result from a worker
    whose lease was taken over is not recorded (see
    :func:`closeloop.services.engine.delivery.record`).
    """

    id: int
    idempotency_key: str
    channel: str
    target: str
    recipient: str
    subject: str
    body: str
    payload: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    claim: int = 1


@dataclass(frozen=True)
class SendResult:
    """What one attempt achieved.

    - ``delivered``: the receiver accepted it (2xx); only then is a row marked delivered.
    - ``retry``: a transient failure where the receiver did not get it, or said so
      (429, 5xx, connection refused, connect or pool timeout); retried later.
    - ``unknown``: sent, but no answer (read timeout, total deadline, connection
      dropped after the request went out): the receiver may have it; retried
      later with the same idempotency key, so a deduping receiver shows it once.
    - ``failed``: permanent (other 4xx, bad target); never retried.

    ``retry_after`` is the receiver's ``Retry-After`` in seconds, when it sent one.
    """

    outcome: Outcome
    status_code: int | None = None
    retry_after: float | None = None
    error: str | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"SendResult outcome {self.outcome!r}: expected one of {', '.join(OUTCOMES)}")


@runtime_checkable
class Sender(Protocol):
    """Sends one message; never raises for delivery problems (they are a :class:`SendResult`)."""

    async def send(self, msg: OutgoingMessage) -> SendResult: ...
