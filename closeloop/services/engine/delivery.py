"""Delivery: drain the outbox at least once, record each outcome exactly once.

Three steps per batch, each its own short transaction except the sending:

1. :func:`claim` marks up to ``limit`` ready rows ``sending`` for one worker,
   with a lease, and adds one to ``claims`` (the fence of this claim; not an
   attempt). Ready: ``pending`` or ``unknown`` with ``next_attempt_at <= now``,
   or ``sending`` whose lease expired (the worker died between claiming and
   recording: whether it sent is unknown, so the row is resent with the same
   idempotency key and the dead worker's claim is *not* counted as an attempt).
   Two workers never get the same row:

   - PostgreSQL: ``SELECT id ... ORDER BY next_attempt_at, id LIMIT n FOR UPDATE
     SKIP LOCKED`` then ``UPDATE ... WHERE id IN (...) RETURNING ...`` in one
     transaction (a concurrent claimer skips the locked rows instead of waiting).
   - SQLite: one ``UPDATE ... WHERE id IN (SELECT id ... LIMIT n) AND <ready>
     RETURNING ...`` statement; a writing statement takes SQLite's single write
     lock before it reads, so the selection and the update are one atomic step.

   Before claiming, rows abandoned ``max_abandoned`` times (claims without a
   recorded outcome: a message that kills its worker) are dead-lettered
   (``abandoned``) instead of being claimed again.

2. The sender is called for each message, at most ``concurrency`` at once
   (an ``asyncio.Semaphore``). No database connection is held meanwhile; the
   next batch is claimed, and the previous one recorded, in a worker thread
   while sends go on (:func:`deliver_once`).

3. :func:`record` writes the outcomes, only onto rows still held by this claim
   (``status = 'sending'``, ``claimed_by = worker`` and ``claims`` equal to the
   claim's number): a lease that expired and was taken over by another worker is
   never overwritten. Recording an outcome is what adds one to ``attempts`` (a
   request was sent and its result is known), so a round never passes
   ``max_attempts`` (``attempts - attempts_at_requeue``: a manual re-send starts a
   fresh round and keeps the count of every earlier attempt), however many workers
   claimed the row. A row becomes
   ``delivered`` only from a ``delivered`` result, after the receiver accepted it.

Backoff after ``retry`` or ``unknown`` (:class:`RetryPolicy`): attempt ``n``
waits ``d * U(0.5, 1)`` with ``d = min(cap, base * 2**(n-1))`` (default base
60 s, cap 4 h: "equal jitter", never less than half the step), or the receiver's
``Retry-After`` when that is longer (at most a day). After ``max_attempts``
(default 20, which spans at least 24 hours, 24.1 h to 48.2 h) the row is
``dead`` (reason ``exhausted``) with the last error; a permanent refusal (4xx,
bad target) is ``dead`` at once (``rejected``). Every dead letter enqueues one
alert to the operations manager (:class:`DeadLetterAlert`, idempotency key
``outbox-dead:{id}:{requeues}``) in the same transaction; :func:`requeue` re-sends
dead letters with their own idempotency key. Time comes only from the injected
clock, jitter only from the injected ``random.Random``.

This module never imports httpx: it types against :class:`integrations.outbound.Sender`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, literal, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from closeloop.clock import Clock
from closeloop.domain.notices import message
from closeloop.domain.outbox import READY_STATUSES, DeadReason, OutboxStatus, dead_reason_label
from closeloop.services.bulk import enqueue, rowcount
from closeloop.services.markdown import md_text
from closeloop.services.uow import unit_of_work
from integrations.outbound import OutgoingMessage, Sender, SendResult
from models.tables import Outbox, Transition

READY = tuple(str(s) for s in READY_STATUSES)
SENDING = OutboxStatus.SENDING.value
DEAD = OutboxStatus.DEAD.value
DEFAULT_LEASE = timedelta(minutes=5)
ERROR_CHARS = 2000
ALERT_PREFIX = "outbox-dead:"


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with equal jitter, capped; ``Retry-After`` wins when longer.

    ``max_attempts`` recorded sends, then the dead letter; ``max_abandoned`` claims
    without an outcome (dead workers), then the dead letter. The schedule must
    span at least ``min_span`` (default 24 hours, so a receiver down for a day loses
    nothing): :meth:`guaranteed_span`, the sum of the shortest waits between the
    attempts, is checked when the policy is made (``ValueError`` otherwise).
    Configured by ``CLOSELOOP_DELIVERY_RETRY_BASE_S``, ``..._RETRY_CAP_S`` and
    ``..._MAX_ATTEMPTS`` (:meth:`from_settings`).
    """

    base: timedelta = timedelta(seconds=60)
    cap: timedelta = timedelta(hours=4)
    max_attempts: int = 20
    max_retry_after: timedelta = timedelta(days=1)
    max_abandoned: int = 10
    min_span: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.base <= timedelta(0) or self.cap < self.base:
            raise ValueError("retry base must be positive and the cap at least the base")
        if self.max_attempts < 1 or self.max_abandoned < 1:
            raise ValueError("max_attempts and max_abandoned must be at least 1")
        if self.guaranteed_span() < self.min_span:
            raise ValueError(f"the retry schedule spans at least {self.guaranteed_span()} only, less than "
                             f"{self.min_span}: raise the cap or the maximum attempts")

    def step(self, attempt: int) -> float:
        """The full step in seconds after attempt ``attempt`` (1-based), before jitter."""
        return min(self.cap.total_seconds(), self.base.total_seconds() * 2 ** min(max(0, attempt - 1), 60))

    def guaranteed_span(self) -> timedelta:
        """The shortest time from the first to the last attempt (every jitter at its minimum)."""
        return timedelta(seconds=sum(self.step(n) / 2 for n in range(1, self.max_attempts)))

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> timedelta:
        """Wait before the attempt after ``attempt`` (1-based)."""
        seconds = self.step(attempt) * (0.5 + rng.random() / 2)
        if retry_after is not None and retry_after > seconds:
            seconds = min(retry_after, self.max_retry_after.total_seconds())
        return timedelta(seconds=seconds)

    @classmethod
    def from_settings(cls, settings) -> RetryPolicy:
        """The policy of :class:`closeloop.settings.Settings` (``delivery_retry_*``)."""
        return cls(base=timedelta(seconds=settings.delivery_retry_base_s),
                   cap=timedelta(seconds=settings.delivery_retry_cap_s),
                   max_attempts=settings.delivery_max_attempts)


@dataclass(frozen=True)
class DeadLetterAlert:
    """Where a dead letter is reported: the operations manager's target, name and language (``en``, ``zh``)."""

    channel: str
    target: str
    recipient: str
    language: str = "en"


@dataclass
class DeliveryReport:
    """Counts of one :func:`deliver_once` run. ``retried`` rows wait as ``pending``,
    ``unknown`` rows as ``unknown``; ``dead`` rows were dead-lettered (``rejected`` at
    once, ``gave_up`` after the last attempt, ``abandoned`` by dead workers; each
    also counted in ``dead``); ``alerts`` were enqueued for the operations manager;
    ``stale`` results were not recorded because the claim had been taken over; ``signed``: the claimed
    rows of the ``webhook`` channel (the only ones signed with ``CLOSELOOP_WEBHOOK_SECRET``)."""

    batches: int = 0
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    unknown: int = 0
    dead: int = 0
    rejected: int = 0
    gave_up: int = 0
    abandoned: int = 0
    alerts: int = 0
    stale: int = 0
    signed: int = 0
    errors: list[str] = field(default_factory=list)

    COUNTS = ("batches", "claimed", "delivered", "retried", "unknown", "dead", "rejected", "gave_up",
              "abandoned", "alerts", "stale", "signed")

    def add(self, other: DeliveryReport) -> None:
        for name in self.COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)

    def as_dict(self) -> dict:
        return asdict(self)

    def count_batch(self, msgs: Sequence[OutgoingMessage]) -> None:
        """One claimed batch: its rows, and those of the ``webhook`` channel (signed)."""
        self.batches += 1
        self.claimed += len(msgs)
        self.signed += sum(m.channel == "webhook" for m in msgs)


def _ready(now: datetime):
    return or_(and_(Outbox.status.in_(READY), Outbox.next_attempt_at <= now),
               and_(Outbox.status == SENDING, Outbox.lease_until <= now))


_RETURNED = (Outbox.id, Outbox.idempotency_key, Outbox.channel, Outbox.target, Outbox.recipient,
             Outbox.subject, Outbox.body, Outbox.payload, Outbox.attempts, Outbox.attempts_at_requeue, Outbox.claims)


def _claim_values(worker: str, now: datetime, lease: timedelta) -> dict:
    return {
        "status": SENDING,
        "claimed_by": worker,
        "lease_until": now + lease,
        "claims": Outbox.claims + 1,
        # a row taken over from a worker whose lease ran out says so
        "last_error": case(
            (Outbox.status == SENDING,
             literal("lease of ") + Outbox.claimed_by + literal(" expired before its outcome was recorded; "
                                                                "resent with the same key")),
            else_=Outbox.last_error),
    }


def _alert(s: Session, alert: DeadLetterAlert | None, row, reason: str, now: datetime) -> int:
    """Enqueue the operations manager's alert for one dead letter (never for an alert itself), in the
    manager's language (``MESSAGES`` ``dead_letter_*``; user text escaped for Markdown); 1 if new."""
    if alert is None or row.idempotency_key.startswith(ALERT_PREFIX):
        return 0
    lang = alert.language
    body = message("dead_letter_body", lang, id=row.id, idempotency_key=md_text(row.idempotency_key),
                   recipient=md_text(row.recipient), channel=md_text(row.channel),
                   reason=md_text(dead_reason_label(reason, lang)), attempts=row.attempts,
                   error=md_text(row.last_error or "-"), command=f"closeloop outbox retry {row.id}")
    made = enqueue(s, key=f"{ALERT_PREFIX}{row.id}:{row.requeues}", channel=alert.channel, target=alert.target,
                   recipient=alert.recipient, subject=message("dead_letter_subject", lang, subject=row.subject)[:500],
                   body=body, payload={"kind": "dead_letter", "outbox_id": row.id, "reason": reason,
                                       "idempotency_key": row.idempotency_key}, now=now)
    return 1 if made is not None else 0


_DEAD_RETURNED = (Outbox.id, Outbox.idempotency_key, Outbox.recipient, Outbox.channel, Outbox.subject,
                  Outbox.attempts, Outbox.requeues, Outbox.last_error)


def _bury_abandoned(s: Session, now: datetime, policy: RetryPolicy, alert: DeadLetterAlert | None,
                    report: DeliveryReport) -> None:
    """Dead-letter expired claims of rows abandoned ``max_abandoned`` times (see the module docstring)."""
    rows = s.execute(update(Outbox).where(Outbox.status == SENDING, Outbox.lease_until <= now,
                                          Outbox.claims - Outbox.attempts >= policy.max_abandoned)
                     .values(status=DEAD, dead_reason=DeadReason.ABANDONED.value, dead_at=now, lease_until=None,
                             last_error=literal(f"abandoned: {policy.max_abandoned} claims ended without an "
                                                "outcome (the worker died each time); last: ")
                             + Outbox.claimed_by)
                     .returning(*_DEAD_RETURNED).execution_options(synchronize_session=False)).all()
    for row in rows:
        report.dead += 1
        report.abandoned += 1
        report.alerts += _alert(s, alert, row, DeadReason.ABANDONED.value, now)


def claim(sessions: sessionmaker[Session], *, worker: str, now: datetime, limit: int,
          lease: timedelta = DEFAULT_LEASE, policy: RetryPolicy = RetryPolicy(),
          alert: DeadLetterAlert | None = None, report: DeliveryReport | None = None) -> list[OutgoingMessage]:
    """Claim up to ``limit`` ready rows for ``worker`` (see the module docstring); oldest due first.

    Rows dead-lettered as abandoned on the way are counted in ``report`` when given.
    """
    if limit < 1:
        return []
    if lease <= timedelta(0):
        raise ValueError("lease must be positive")
    with unit_of_work(sessions) as s:
        _bury_abandoned(s, now, policy, alert, report if report is not None else DeliveryReport())
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
                            attempt=r.attempts - r.attempts_at_requeue + 1, claim=r.claims)
            for r in rows]


def _still_mine(worker: str, ids: Sequence[int], claim_no: int):
    return and_(Outbox.id.in_(ids), Outbox.status == SENDING, Outbox.claimed_by == worker,
                Outbox.claims == claim_no)


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:ERROR_CHARS]


def _outcome_values(msg: OutgoingMessage, res: SendResult, now: datetime, rng: random.Random,
                    policy: RetryPolicy) -> tuple[dict, str]:
    """The column values and the report counter for one non-delivered result."""
    base = {"lease_until": None, "attempts": Outbox.attempts + 1}
    if res.outcome == "failed":
        return {**base, "status": DEAD, "dead_reason": DeadReason.REJECTED.value, "dead_at": now,
                "last_error": _clip(res.error or "failed")}, "rejected"
    if msg.attempt >= policy.max_attempts:
        what = "no answer" if res.outcome == "unknown" else "still failing"
        return {**base, "status": DEAD, "dead_reason": DeadReason.EXHAUSTED.value, "dead_at": now,
                "last_error": _clip(f"gave up after {msg.attempt} attempts ({what}): {res.error or res.outcome}")
                }, "gave_up"
    wait = policy.delay(msg.attempt, rng, res.retry_after)
    status = "pending" if res.outcome == "retry" else "unknown"
    return {**base, "status": status, "next_attempt_at": now + wait, "last_error": _clip(res.error or res.outcome)
            }, ("retried" if status == OutboxStatus.PENDING else "unknown")


def record(sessions: sessionmaker[Session], results: Sequence[tuple[OutgoingMessage, SendResult]], *,
           worker: str, now: datetime, rng: random.Random | None = None,
           policy: RetryPolicy = RetryPolicy(), alert: DeadLetterAlert | None = None) -> DeliveryReport:
    """Store the outcomes of one claim in one transaction (see the module docstring)."""
    report = DeliveryReport()
    if not results:
        return report
    rng = rng or random.Random()
    delivered: dict[int, list[int]] = {}
    singles = []
    for msg, res in results:
        if res.outcome == "delivered":
            delivered.setdefault(msg.claim, []).append(msg.id)
        else:
            singles.append((msg, *_outcome_values(msg, res, now, rng, policy)))
    with unit_of_work(sessions) as s:
        for claim_no, ids in delivered.items():
            n = rowcount(s.execute(update(Outbox).where(_still_mine(worker, ids, claim_no))
                                   .values(status=OutboxStatus.DELIVERED, delivered_at=now, lease_until=None,
                                           attempts=Outbox.attempts + 1, last_error=None)
                                   .execution_options(synchronize_session=False)))
            report.delivered += n
            report.stale += len(ids) - n
        for msg, values, counter in singles:
            row = s.execute(update(Outbox).where(_still_mine(worker, [msg.id], msg.claim)).values(**values)
                            .returning(*_DEAD_RETURNED).execution_options(synchronize_session=False)).first()
            if row is None:
                report.stale += 1
                continue
            setattr(report, counter, getattr(report, counter) + 1)
            if values["status"] == DEAD:
                report.dead += 1
                report.alerts += _alert(s, alert, row, values["dead_reason"], now)
    return report


def requeue(sessions: sessionmaker[Session], *, now: datetime, actor: str, ids: Sequence[int] | None = None,
            reason: str = "re-sent by hand") -> list[int]:
    """Put dead letters back to ``pending`` (due ``now``, a fresh attempt budget, ``requeues + 1``),
    keeping their idempotency key and the count of their earlier attempts (``attempts`` is the history;
    the budget counts from ``attempts_at_requeue``); ``ids=None`` takes every dead letter. Returns the ids re-queued
    (ids that are not dead letters are left alone). Each is audited (``entity = 'outbox'``)."""

    with unit_of_work(sessions) as s:
        cond = [Outbox.status == DEAD]
        if ids is not None:
            if not ids:
                return []
            cond.append(Outbox.id.in_(list(ids)))
        rows = s.execute(update(Outbox).where(*cond)
                         .values(status=OutboxStatus.PENDING.value, attempts_at_requeue=Outbox.attempts,
                                 claims=Outbox.attempts,
                                 requeues=Outbox.requeues + 1, next_attempt_at=now, dead_reason=None, dead_at=None,
                                 lease_until=None, claimed_by=None)
                         .returning(Outbox.id, Outbox.requeues).execution_options(synchronize_session=False)).all()
        for row in rows:
            s.add(Transition(entity="outbox", entity_id=row.id, complaint_id=None, from_state=DEAD,
                             to_state=OutboxStatus.PENDING.value, trigger="retry", actor=actor, reason=reason, at=now,
                             data={"requeues": row.requeues}))
    return sorted(r.id for r in rows)


def dead_letters(sessions: sessionmaker[Session]) -> dict[str | None, int]:
    """Dead letters by reason (``{"exhausted": 3, ...}``; empty when there are none)."""

    with unit_of_work(sessions) as s:
        return {r: n for r, n in s.execute(select(Outbox.dead_reason, func.count())
                                           .where(Outbox.status == DEAD).group_by(Outbox.dead_reason))}


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
                       rng: random.Random | None = None, window: int = 2,
                       alert: DeadLetterAlert | None = None) -> DeliveryReport:
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
    rows already claimed stay ``sending`` until their lease expires. Dead letters
    are reported to ``alert`` (the operations manager) when given.
    """
    if batch < 1 or concurrency < 1 or window < 1:
        raise ValueError("batch, concurrency and window must be at least 1")
    rng = rng or random.Random()
    report = DeliveryReport()
    sem = asyncio.Semaphore(concurrency)

    async def process(msgs: list[OutgoingMessage]) -> None:
        results = await _send_all(sender, msgs, sem)
        done = await asyncio.to_thread(record, sessions, results, worker=worker, now=clock.now(), rng=rng,
                                       policy=policy, alert=alert)
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
                                           lease=lease, policy=policy, alert=alert, report=report)
            if not msgs:
                break
            report.count_batch(msgs)
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
