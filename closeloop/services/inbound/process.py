"""Process inbound e-mail: one function for the IMAP poll and the inbound webhook.

For a batch of raw messages, in one transaction:

1. **Idempotent by Message-ID**: ``inbound_mail.key`` (SHA-256 of the Message-ID, of the raw bytes
   without one) is unique; a message seen before (or twice in the batch) is counted ``duplicate`` and
   changes nothing. A crash between the commit and flagging the mail as seen therefore never duplicates.
2. **Quarantine**: a message that cannot be read (malformed MIME, unknown charset, no From address), or
   one whose taking in fails (``intake_failed``, see :func:`process_mail`), keeps its raw bytes in
   ``mail_quarantine`` with the reason.
3. **Loop protection**: auto-replies and bounces (:func:`~closeloop.domain.inbound_mail.loop_reason`)
   are recorded ``ignored`` with the reason: no complaint is created or reopened, nothing is answered.
4. **Threading**: ``In-Reply-To``/``References`` naming one of our outbound mails (``message.mail_id``) or
   an earlier inbound mail (stored, or earlier in the same batch: a reply to a mail whose complaint this
   batch creates lands on that complaint; a batch is taken in mailbox order), else a ``[CL-n]`` token in
   the subject, but a token only when the sender's address is an e-mail contact point of that complaint's
   customer (our Message-IDs are unguessable; a token is not). The reply is recorded on the complaint as an
   inbound customer message (:func:`~closeloop.services.work.messages.record_message`: a merged complaint's
   survivor; resolved reopens).
5. **New complaints**: everything else (a foreign token included, reason ``foreign_token``) goes through
   the shared intake (source ``email``, one ``intake_batch`` per batch), the customer found by the sender
   address among the e-mail contact points, or created with it (consent to answer on the channel the
   customer wrote from; not verified).
6. **Attachments** of messages that landed on a complaint are stored (:mod:`.attachments`).

Rows carry ids, outcomes and reasons only: no address, subject or body outside ``message``/``customer``.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.domain.customer import ContactKind, ContactPoint, CustomerProfile, MessageDirection
from closeloop.domain.errors import InvalidInput
from closeloop.domain.facts import MAX_CHARS, ComplaintFacts
from closeloop.domain.inbound_mail import (
    OPENING_MAIL_ID,
    MailOutcome,
    ParsedMail,
    QuarantineReason,
    ThreadReason,
    Unparseable,
    parse_mail,
    raw_key,
)
from closeloop.services.departments import routing_config_id, sync_departments
from closeloop.services.inbound.attachments import InboundOptions, attachment_rows
from closeloop.services.inbound.threads import Threads, find_threads
from closeloop.services.intake.intake import intake_batch
from closeloop.services.intake.items import IntakeItem
from closeloop.services.uow import unit_of_work
from closeloop.services.work.messages import record_message
from models.tables import Attachment, InboundMail, MailQuarantine

log = logging.getLogger("closeloop.inbound")
SOURCE = "email"
AUTHOR = "customer"
EMPTY_TEXT = "(empty e-mail)"
#: The reason of a reprocessed message whose Message-ID was taken in meanwhile (outcome ``ignored``).
DUPLICATE = "duplicate"


class MailVia(StrEnum):
    IMAP = "imap"
    WEBHOOK = "webhook"


@dataclass(frozen=True)
class MailResult:
    """One message's outcome; ``duplicate``: processed before (nothing changed, the earlier outcome holds)."""

    key: str
    outcome: MailOutcome | None
    reason: str | None = None
    complaint_id: int | None = None
    duplicate: bool = False


@dataclass
class InboundReport:
    """What a batch (or a poll) did: per message results and counts by outcome and reason."""

    results: list[MailResult] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    #: reprocessing: the given ids with no inbound mail at all (mistyped, or never received)
    not_found: list[int] = field(default_factory=list)

    def add(self, other: InboundReport) -> None:
        self.results.extend(other.results)
        self.counts.update(other.counts)
        self.not_found.extend(other.not_found)

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


@dataclass
class _Incoming:
    raw: bytes
    key: str
    mail: ParsedMail | None
    problem: Unparseable | None
    row_id: int | None = None    # reprocessing: the ``inbound_mail`` row (quarantined before) to update
    old_key: str | None = None   # ... and its key then


def _read(raw: bytes) -> _Incoming:
    try:
        mail = parse_mail(raw)
    except Unparseable as exc:
        return _Incoming(raw, raw_key(raw), None, exc)
    return _Incoming(raw, mail.key(raw), mail, None)


def process_mail(sessions, config: Config, raws: Sequence[bytes], *, now: datetime, via: MailVia,
                 options: InboundOptions, attempts: int = 3) -> InboundReport:
    """Process ``raws`` in one transaction (see the module docstring); returns the report. A concurrent run
    that committed one of the same messages first makes this batch roll back and run again (then those
    messages count as duplicates).

    A batch that fails otherwise (the intake or the database refusing what a message makes: a bug, a limit)
    is never lost: it is logged and its messages run again one transaction each; a message that still fails
    is quarantined with its raw bytes, reason ``intake_failed`` (``closeloop mail reprocess`` after a fix).
    Raises only when even that cannot be written (then nothing is stored and the caller sees the error:
    the webhook answers 500, so the provider retries; the poll leaves the mail unseen)."""
    incoming = [_read(raw) for raw in raws]  # parsing needs no transaction
    try:
        return _process(sessions, config, incoming, now, via, options, attempts)
    except IntegrityError:
        raise  # a race lost ``attempts`` times: nothing is wrong with the messages
    except Exception:  # noqa: BLE001 - any failure: the mail is kept, never dropped
        log.exception("inbound mail: a batch of %d message(s) failed; taking them in one by one", len(incoming))
    report = InboundReport()
    for m in incoming:
        try:
            report.add(_process(sessions, config, [m], now, via, options, attempts))
        except IntegrityError:
            raise
        except Exception as exc:  # noqa: BLE001
            log.exception("inbound mail %s failed alone: quarantined as %s", m.key[:12], QuarantineReason.INTAKE_FAILED)
            m.problem = Unparseable(QuarantineReason.INTAKE_FAILED, type(exc).__name__)
            report.add(_process(sessions, config, [m], now, via, options, attempts))
    return report


def _process(sessions, config: Config, incoming: list[_Incoming], now: datetime, via: MailVia,
             options: InboundOptions, attempts: int) -> InboundReport:
    """One transaction over ``incoming``, run again (up to ``attempts`` times) when a concurrent run committed
    one of the same messages first."""
    for attempt in range(1, attempts + 1):
        try:
            with unit_of_work(sessions) as s:
                return _Batch(s, config, now, via, options).run(incoming)
        except IntegrityError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass
class _Batch:
    s: Session
    config: Config
    now: datetime
    via: MailVia
    options: InboundOptions
    report: InboundReport = field(default_factory=InboundReport)
    rows: list[dict] = field(default_factory=list)
    landed: list[tuple[int, _Incoming]] = field(default_factory=list)  # (row index, message) on a complaint
    quarantined: list[_Incoming] = field(default_factory=list)

    def run(self, incoming: list[_Incoming]) -> InboundReport:
        fresh = self._fresh(incoming)
        readable = [m for m in fresh if m.mail is not None and m.mail.loop is None]
        threads = find_threads(self.s, [m.mail for m in readable if m.mail is not None])
        new: list[tuple[int, _Incoming, ThreadReason]] = []
        # Message-ID of a readable message earlier in this batch -> its complaint id, or ("new", i): the i-th
        # new complaint of the batch, whose id exists only after the intake below
        earlier: dict[str, int | tuple[str, int]] = {}
        waiting: list[tuple[_Incoming, int]] = []  # replies to a complaint this batch creates
        for m in fresh:
            if m.problem is not None:
                self._row(m, MailOutcome.QUARANTINED, m.problem.reason)
                self.quarantined.append(m)
            elif m.mail is not None and m.mail.loop is not None:
                self._row(m, MailOutcome.IGNORED, m.mail.loop)
            else:
                assert m.mail is not None
                cid, why = _thread(m.mail, threads, earlier)
                if isinstance(cid, tuple):
                    waiting.append((m, cid[1]))
                elif cid is None:
                    cid = ("new", len(new))
                    new.append((self._row(m, MailOutcome.COMPLAINT, why), m, why))
                else:
                    self._reply(m, cid, why)
                if m.mail.message_id:
                    earlier.setdefault(m.mail.message_id, cid)
        ids = self._new_complaints(new, threads)
        for m, i in waiting:
            self._reply(m, ids[i], ThreadReason.HEADERS)
        self._write()
        return self.report

    def _fresh(self, incoming: list[_Incoming]) -> list[_Incoming]:
        keys = sorted({m.key for m in incoming})
        earlier: dict[str, tuple[str, str | None, int | None]] = {}  # key -> what became of it the first time
        for i in range(0, len(keys), 400):
            earlier.update((k, (o, r, c)) for k, o, r, c in self.s.execute(
                select(InboundMail.key, InboundMail.outcome, InboundMail.reason, InboundMail.complaint_id)
                .where(InboundMail.key.in_(keys[i:i + 400]))))
        seen = set(earlier) - {m.old_key for m in incoming if m.row_id is not None}  # a reprocessed row's own key
        fresh = []
        for m in incoming:
            if m.key in seen and m.row_id is not None:  # reprocessed, but taken in since under its Message-ID
                assert m.old_key is not None
                m.key = m.old_key  # the row keeps its key (the other row has the Message-ID's)
                self._row(m, MailOutcome.IGNORED, DUPLICATE)
                continue
            if m.key in seen:  # the earlier outcome holds: a retry learns what its first delivery did
                outcome, reason, complaint_id = earlier.get(m.key, (None, None, None))
                self.report.results.append(MailResult(m.key, MailOutcome(outcome) if outcome else None, reason,
                                                      complaint_id, duplicate=True))
                self.report.counts["duplicate"] += 1
                continue
            seen.add(m.key)
            fresh.append(m)
        return fresh

    def _row(self, m: _Incoming, outcome: MailOutcome, reason: str | None, complaint_id: int | None = None) -> int:
        why = None if reason == ThreadReason.NONE else reason
        self.rows.append({"key": m.key, "via": self.via, "outcome": outcome, "reason": why,
                          "complaint_id": complaint_id, "size": len(m.raw), "processed_at": self.now,
                          "received_at": self.now}
                         | ({} if m.row_id is None else {"id": m.row_id}))
        self.report.counts[str(outcome)] += 1
        if why and outcome in (MailOutcome.IGNORED, MailOutcome.QUARANTINED):
            self.report.counts[f"{outcome}:{why}"] += 1
        return len(self.rows) - 1

    def _reply(self, m: _Incoming, complaint_id: int, why: ThreadReason) -> None:
        assert m.mail is not None
        msg = record_message(self.s, complaint_id, config=self.config, direction=MessageDirection.INBOUND,
                             body=_body(m.mail), author=AUTHOR, at=self.now, channel=SOURCE)
        msg.mail_id = _own_id(m.mail)  # what our next message to the customer threads under (notices.thread_ids)
        self.landed.append((self._row(m, MailOutcome.REPLY, why, msg.complaint_id), m))

    def _new_complaints(self, new: list[tuple[int, _Incoming, ThreadReason]], threads: Threads) -> list[int]:
        """Take the new complaints in (one intake batch); returns their ids in the order of ``new``."""
        if not new:
            return []
        sync_departments(self.s, self.config, self.now)
        rc_id = routing_config_id(self.s, self.config, self.now)
        items = [IntakeItem(_facts(m, threads, self.now)) for _, m, _ in new]
        res = intake_batch(self.s, items, config=self.config, now=self.now, routing_config_id=rc_id, actor=AUTHOR)
        for i, (row, m, _) in enumerate(new):
            self.rows[row]["complaint_id"] = res.ids[i]
            self.landed.append((row, m))
        return [res.ids[i] for i in range(len(new))]

    def _write(self) -> None:
        if not self.rows:
            return
        t = InboundMail.__table__
        fresh = [r for r in self.rows if "id" not in r]
        ids: dict[str, int] = {k: i for k, i in self.s.execute(insert(t).returning(t.c.key, t.c.id), fresh)} \
            if fresh else {}
        again = [r for r in self.rows if "id" in r]  # reprocessed: the row is updated, its via kept
        if again:
            self.s.execute(update(t).where(t.c.id == bindparam("row_id")).values(
                key=bindparam("new_key"), outcome=bindparam("new_outcome"), reason=bindparam("new_reason"),
                complaint_id=bindparam("new_complaint"), processed_at=self.now),
                [{"row_id": r["id"], "new_key": r["key"], "new_outcome": r["outcome"], "new_reason": r["reason"],
                  "new_complaint": r["complaint_id"]} for r in again])
            ids |= {r["key"]: r["id"] for r in again}
        if self.quarantined:
            self.s.execute(insert(MailQuarantine.__table__),
                           [{"inbound_mail_id": ids[m.key], "raw": m.raw} for m in self.quarantined])
        files = []
        for row, m in self.landed:
            assert m.mail is not None
            files += attachment_rows(m.mail.attachments, complaint_id=self.rows[row]["complaint_id"],
                                     inbound_mail_id=ids[m.key], options=self.options, at=self.now)
        if files:
            self.s.execute(insert(Attachment.__table__), files)
            self.report.counts.update(f"attachment:{f['status']}" for f in files)
        for r in self.rows:
            self.report.results.append(MailResult(r["key"], r["outcome"], r["reason"], r["complaint_id"]))


def _thread(mail: ParsedMail, threads: Threads, earlier: dict[str, int | tuple[str, int]]
            ) -> tuple[int | tuple[str, int] | None, ThreadReason]:
    """The complaint ``mail`` answers: its ``In-Reply-To``/``References`` in order, each looked up among the
    stored threads and the messages taken in earlier in the same batch (a reply to a mail whose complaint
    this batch creates gets that complaint, not one of its own), else the subject token."""
    for ref in mail.references:
        if ref in threads.by_ref:
            return threads.by_ref[ref], ThreadReason.HEADERS
        if ref in earlier:
            return earlier[ref], ThreadReason.HEADERS
    return threads.of(mail)


def _body(mail: ParsedMail) -> str:
    text = "\n\n".join(p for p in (mail.subject, mail.text) if p) or EMPTY_TEXT
    return text[:MAX_CHARS["text"]]


def _facts(m: _Incoming, threads: Threads, now: datetime) -> ComplaintFacts:
    """A new complaint from ``m``: the sender's customer (found by address, or a new pseudonymous ref)."""
    mail = m.mail
    assert mail is not None
    ref = threads.customer_refs.get(mail.sender)
    profile = None
    if ref is None:
        ref = "mail-" + hashlib.sha256(mail.sender.encode("utf-8")).hexdigest()[:24]
        profile = _profile(mail)
    own = _own_id(mail)
    return ComplaintFacts(source=SOURCE, external_ref=m.key, received_at=now, channel=SOURCE, text=_body(mail),
                          customer_ref=ref, customer=profile, extra={OPENING_MAIL_ID: own} if own else {})


def _own_id(mail: ParsedMail) -> str | None:
    """The mail's Message-ID as our replies quote it back (``In-Reply-To``); None when it has none or one
    longer than ``message.mail_id`` holds (255 characters)."""
    return mail.message_id if mail.message_id and len(mail.message_id) <= 255 else None


def _profile(mail: ParsedMail) -> CustomerProfile | None:
    """The sender as a new customer's profile; None when the address is not one closeloop can store."""
    try:
        point = ContactPoint(ContactKind.EMAIL, mail.sender, consent=True, verified=False)
        return CustomerProfile(display_name=(mail.sender_name or "")[:200] or None, contacts=(point,))
    except InvalidInput:
        return None


