"""Delivery: drain the outbox at least once, record each outcome exactly once.

Three steps per batch, each its own short transaction except the sending:

1. :func:`claim` marks up to ``limit`` ready rows ``sending`` for one worker,
   with a lease, and adds one to ``attempts``. Ready: ``pending`` or ``unknown``
   with ``next_attempt_at <= now``, or ``sending`` whose lease expired (the
   worker died between sending and recording: treated as unknown, resent with
   the same idempotency key). Two workers never get the same row:

   - PostgreSQL: ``SELECT id ... ORDER BY next_attempt_at, id LIMIT n FOR UPDATE
     SKIP LOCKED`` then ``UPDATE ... WHERE id IN (...) RETURNING ...`` in one
     transaction (a concurrent claimer skips the locked rows instead of waiting).
   - SQLite: one ``UPDATE ... WHERE id IN (SELECT id ... LIMIT n) AND <ready>
     RETURNING ...`` statement; a writing statement takes SQLite's single write
     lock before it reads, so the selection and the update are one atomic step.

2. The sender is called for each message, at most ``concurrency`` at once
   (an ``asyncio.Semaphore``). No database connection is held meanwhile; the
   next batch is claimed, and the previous one recorded, in a worker thread
   while sends go on (:func:`deliver_once`).

3. :func:`record` writes the outcomes, only onto rows still claimed by this
   claim (``status = 'sending'``, ``claimed_by = worker`` and ``attempts`` equal
   to the attempt number the claim gave): a lease that expired and was taken
   over by another worker is never overwritten. A row becomes ``delivered`` only
   from a ``delivered`` result, that is after the receiver accepted it.

Backoff after ``retry`` or ``unknown`` (:class:`RetryPolicy`): attempt ``n``
waits ``d * U(0.5, 1)`` with ``d = min(cap, base * 2**(n-1))`` (base 30 s, cap
1 h: "equal jitter", never less than half the step), or the receiver's
``Retry-After`` when that is longer (at most a day). After ``max_attempts``
(default 8) the row is ``failed`` with the last error. Time comes only from the
injected clock, jitter only from the injected ``random.Random``.

This module never imports httpx: it types against :class:`integrations.outbound.Sender`.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Sequence

from sqlalchemy import and_, case, literal, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from closeloop.clock import Clock
from integrations.outbound import OutgoingMessage, SendResult, Sender
from models.tables import Outbox

from .bulk import rowcount
from .uow import unit_of_work

READY = ("pending", "unknown")
SENDING = "sending"
DEFAULT_LEASE = timedelta(minutes=5)
ERROR_CHARS = 2000


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with equal jitter, capped; ``Retry-After`` wins when longer."""

    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    max_attempts: int = 8
    max_retry_after: timedelta = timedelta(days=1)

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> timedelta:
        """Wait before the attempt after ``attempt`` (1-based)."""
        step = min(self.cap.total_seconds(), self.base.total_seconds() * 2 ** max(0, attempt - 1))
        seconds = step * (0.5 + rng.random() / 2)
        if retry_after is not None and retry_after > seconds:
            seconds = min(retry_after, self.max_retry_after.total_seconds())
        return timedelta(seconds=seconds)


@dataclass
class DeliveryReport:
    """Counts of one :func:`deliver_once` run. ``retried`` rows wait as ``pending``,
    ``unknown`` rows as ``unknown``; ``gave_up`` are failures after the last attempt
    (also counted in ``failed``); ``stale`` results were not recorded because the
    claim had been taken over."""

    batches: int = 0
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    unknown: int = 0
    failed: int = 0
    gave_up: int = 0
    stale: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: "DeliveryReport") -> None:
        for name in ("batches", "claimed", "delivered", "retried", "unknown", "failed", "gave_up", "stale"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)

    def as_dict(self) -> dict:
        return asdict(self)


def _ready(now: datetime):
    return or_(and_(Outbox.status.in_(READY), Outbox.next_attempt_at <= now),
               and_(Outbox.status == SENDING, Outbox.lease_until <= now))


_RETURNED = (Outbox.id, Outbox.idempotency_key, Outbox.channel, Outbox.target, Outbox.recipient,
             Outbox.subject, Outbox.body, Outbox.payload, Outbox.attempts)


def _claim_values(worker: str, now: datetime, lease: timedelta) -> dict:
    return {
        "status": SENDING,
        "claimed_by": worker,
        "lease_until": now + lease,
        "attempts": Outbox.attempts + 1,
        # a row taken over from a worker whose lease ran out says so
        "last_error": case(
            (Outbox.status == SENDING,
             literal("lease of ") + Outbox.claimed_by + literal(" expired before its outcome was recorded; "
                                                                "resent with the same key")),
            else_=Outbox.last_error),
    }


def claim(sessions: sessionmaker[Session], *, worker: str, now: datetime, limit: int,
          lease: timedelta = DEFAULT_LEASE) -> list[OutgoingMessage]:
    """Claim up to ``limit`` ready rows for ``worker`` (see the module docstring); oldest due first."""
    if limit < 1:
        return []
    if lease <= timedelta(0):
        raise ValueError("lease must be positive")
    with unit_of_work(sessions) as s:
        order = (Outbox.next_attempt_at, Outbox.id)
        if s.get_bind().dialect.name == "postgresql":
            ids = s.scalars(select(Outbox.id).where(_ready(now)).order_by(*order).limit(limit)
                            .with_for_update(skip_locked=True)).all()
            if not ids:
                return []
            stmt = update(Outbox).where(Outbox.id.in_(ids))
        else:
            picked = select(Outbox.id).where(_ready(now)).order_by(*order).limit(limit).scalar_subquery()
            stmt = update(Outbox).where(Outbox.id.in_(picked), _ready(now))
        rows = s.execute(stmt.values(**_claim_values(worker, now, lease)).returning(*_RETURNED)
                         .execution_options(synchronize_session=False)).all()
    rows = sorted(rows, key=lambda r: r.id)
    return [OutgoingMessage(id=r.id, idempotency_key=r.idempotency_key, channel=r.channel, target=r.target,
                            recipient=r.recipient, subject=r.subject, body=r.body, payload=r.payload or {},
                            attempt=r.attempts)
            for r in rows]


def _still_mine(worker: str, ids: Sequence[int], attempt: int):
    return and_(Outbox.id.in_(ids), Outbox.status == SENDING, Outbox.claimed_by == worker,
                Outbox.attempts == attempt)


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:ERROR_CHARS]


def record(sessions: sessionmaker[Session], results: Sequence[tuple[OutgoingMessage, SendResult]], *,
           worker: str, now: datetime, rng: random.Random | None = None,
           policy: RetryPolicy = RetryPolicy()) -> DeliveryReport:
    """Store the outcomes of one claim in one transaction (see the module docstring)."""
    report = DeliveryReport()
    if not results:
        return report
    rng = rng or random.Random()
    delivered: dict[int, list[int]] = {}
    singles: list[tuple[OutgoingMessage, dict, str]] = []
    for msg, res in results:
        if res.outcome == "delivered":
            delivered.setdefault(msg.attempt, []).append(msg.id)
        elif res.outcome == "failed":
            singles.append((msg, {"status": "failed", "last_error": _clip(res.error or "failed"),
                                  "lease_until": None}, "failed"))
        elif msg.attempt >= policy.max_attempts:
            what = "no answer" if res.outcome == "unknown" else "still failing"
            singles.append((msg, {"status": "failed", "lease_until": None,
                                  "last_error": _clip(f"gave up after {msg.attempt} attempts ({what}): "
                                                      f"{res.error or res.outcome}")}, "gave_up"))
        else:
            wait = policy.delay(msg.attempt, rng, res.retry_after)
            status = "pending" if res.outcome == "retry" else "unknown"
            singles.append((msg, {"status": status, "next_attempt_at": now + wait, "lease_until": None,
                                  "last_error": _clip(res.error or res.outcome)},
                            "retried" if status == "pending" else "unknown"))
    with unit_of_work(sessions) as s:
        for attempt, ids in delivered.items():
            n = rowcount(s.execute(update(Outbox).where(_still_mine(worker, ids, attempt))
                                   .values(status="delivered", delivered_at=now, lease_until=None)
                                   .execution_options(synchronize_session=False)))
            report.delivered += n
            report.stale += len(ids) - n
        for msg, values, counter in singles:
            n = rowcount(s.execute(update(Outbox).where(_still_mine(worker, [msg.id], msg.attempt)).values(**values)
                                   .execution_options(synchronize_session=False)))
            if n:
                setattr(report, counter, getattr(report, counter) + 1)
                if counter == "gave_up":
                    report.failed += 1
            else:
                report.stale += 1
    return report


async def _send_all(sender: Sender, msgs: Sequence[OutgoingMessage], sem: asyncio.Semaphore
                    ) -> list[tuple[OutgoingMessage, SendResult]]:
    async def one(msg: OutgoingMessage) -> tuple[OutgoingMessage, SendResult]:
        async with sem:
            try:
                return msg, await sender.send(msg)
            except Exception as exc:  # noqa: BLE001 - a sender bug must not lose the batch's outcomes
                return msg, SendResult("unknown", error=f"sender raised {type(exc).__name__}: {exc}")

    return list(await asyncio.gather(*(one(m) for m in msgs)))


async def deliver_once(sessions: sessionmaker[Session], sender: Sender, clock: Clock, *, worker: str,
                       batch: int = 200, concurrency: int = 50, max_batches: int = 50,
                       lease: timedelta = DEFAULT_LEASE, policy: RetryPolicy = RetryPolicy(),
                       rng: random.Random | None = None, window: int = 2) -> DeliveryReport:
    """Claim, send and record batches until nothing is ready or ``max_batches`` were claimed.

    Up to ``window`` claimed batches are in progress at once and share one
    semaphore of ``concurrency`` sends, so while one batch's last answers are
    awaited the next batch already fills the free slots, and its claim and the
    previous batch's record run meanwhile (in worker threads: the event loop keeps
    sending). Stops claiming when a claim returns fewer than ``batch`` rows
    (nothing more was ready then). A claimed batch can wait for up to
    ``window - 1`` batches before it, so the lease must exceed ``window * batch /
    concurrency`` rounds of the sender's deadline; a row whose lease ran out is
    resent by whoever claims it next (same key) and this worker's late result is
    not recorded. If this coroutine is cancelled or a database error escapes,
    rows already claimed stay ``sending`` until their lease expires.
    """
    if batch < 1 or concurrency < 1 or window < 1:
        raise ValueError("batch, concurrency and window must be at least 1")
    rng = rng or random.Random()
    report = DeliveryReport()
    sem = asyncio.Semaphore(concurrency)

    async def process(msgs: list[OutgoingMessage]) -> None:
        results = await _send_all(sender, msgs, sem)
        done = await asyncio.to_thread(record, sessions, results, worker=worker, now=clock.now(), rng=rng,
                                       policy=policy)
        report.add(done)
        report.errors.extend(f"outbox {m.id} ({m.idempotency_key}): {r.outcome}: {r.error}"
                             for m, r in results if r.outcome != "delivered" and r.error)
        del report.errors[100:]

    running: set[asyncio.Task] = set()
    try:
        while report.batches < max_batches:
            while len(running) >= window:
                finished, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    task.result()  # a database error in record() stops the run
            msgs = await asyncio.to_thread(claim, sessions, worker=worker, now=clock.now(), limit=batch,
                                           lease=lease)
            if not msgs:
                break
            report.batches += 1
            report.claimed += len(msgs)
            running.add(asyncio.create_task(process(msgs)))
            if len(msgs) < batch:
                break
        for next_done in asyncio.as_completed(running):
            await next_done
        running = set()
    finally:
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
    return report
