"""Run quarantined mail through the intake again (``closeloop mail reprocess``, ``POST /inbound/email/reprocess``).

After a fix (a character set made known, a parser corrected), each quarantined message is read again and goes
the way new mail goes (:func:`~closeloop.services.inbound.process.process_mail`'s batch): a new complaint, a
reply on its thread, or ignored as automatic mail; its ``inbound_mail`` row is updated in place (outcome,
reason, complaint, ``processed_at``; its key becomes the Message-ID's when it has one now) and the raw bytes
leave the quarantine. A message still unreadable stays quarantined with the reason of this reading. One
taken in meanwhile under the same Message-ID is recorded ``ignored`` / ``duplicate``.

**Idempotent**: a batch first *claims* its messages by deleting their quarantine rows (``DELETE ...
RETURNING``) in its transaction: a concurrent or repeated run finds them gone and does nothing, so a message
reprocessed twice makes one complaint. A failed batch rolls back and leaves them quarantined.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from closeloop.config import Config
from closeloop.services.inbound.attachments import InboundOptions
from closeloop.services.inbound.process import InboundReport, MailVia, _Batch, _read
from closeloop.services.uow import unit_of_work
from models.tables import InboundMail, MailQuarantine

DEFAULT_BATCH = 100


def quarantined_ids(sessions, *, after: int = 0, limit: int = DEFAULT_BATCH) -> list[int]:
    """Ids of ``inbound_mail`` rows whose raw message is in quarantine, above ``after``, ascending."""
    with sessions() as s:
        return list(s.scalars(select(MailQuarantine.inbound_mail_id).where(MailQuarantine.inbound_mail_id > after)
                              .order_by(MailQuarantine.inbound_mail_id).limit(limit)))


def quarantine_list(sessions, *, limit: int = 1000) -> list[dict]:
    """The quarantined messages, oldest first: ``{"id", "reason", "size", "received_at", "processed_at"}`` (no
    personal data; UTC instants: when the message arrived, and when it was last processed, which reprocessing
    moves)."""
    with sessions() as s:
        return [{"id": i, "reason": r, "size": n, "received_at": got or at, "processed_at": at}
                for i, r, n, got, at in s.execute(
            select(InboundMail.id, InboundMail.reason, InboundMail.size, InboundMail.received_at,
                   InboundMail.processed_at)
            .join(MailQuarantine, MailQuarantine.inbound_mail_id == InboundMail.id)
            .order_by(InboundMail.id).limit(limit))]


def reprocess(sessions, config: Config, *, now: datetime, options: InboundOptions, ids: Sequence[int] | None = None,
              batch_size: int = DEFAULT_BATCH) -> InboundReport:
    """Reprocess the quarantined messages ``ids`` (``inbound_mail`` ids; None: all), ``batch_size`` per
    transaction. Counts: ``reprocessed`` (claimed), the outcomes as for new mail, ``not_quarantined`` for
    given ids of inbound mail not in quarantine (reprocessed before, or erased) and ``not_found`` for given ids
    of no inbound mail at all (also listed in ``report.not_found``)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    report = InboundReport()
    if ids is not None:
        wanted = sorted(set(ids))
        for i in range(0, len(wanted), batch_size):
            report.add(_one_batch(sessions, config, wanted[i:i + batch_size], now=now, options=options))
        return report
    last = 0
    while chunk := quarantined_ids(sessions, after=last, limit=batch_size):
        report.add(_one_batch(sessions, config, chunk, now=now, options=options))
        last = chunk[-1]
    return report


def _one_batch(sessions, config: Config, ids: list[int], *, now: datetime, options: InboundOptions,
               attempts: int = 3) -> InboundReport:
    for attempt in range(1, attempts + 1):
        try:
            with unit_of_work(sessions) as s:
                claimed = {mid: bytes(raw) for mid, raw in s.execute(
                    delete(MailQuarantine).where(MailQuarantine.inbound_mail_id.in_(ids))
                    .returning(MailQuarantine.inbound_mail_id, MailQuarantine.raw))}
                rows = {mid: (key, via) for mid, key, via in s.execute(
                    select(InboundMail.id, InboundMail.key, InboundMail.via).where(InboundMail.id.in_(claimed)))}
                incoming = []
                for mid in sorted(claimed):  # arrival order: a reply after the mail it answers
                    m = _read(claimed[mid])
                    m.row_id, m.old_key = mid, rows[mid][0]
                    incoming.append(m)
                report = _Batch(s, config, now, MailVia.IMAP, options).run(incoming) if incoming else InboundReport()
            report.counts["reprocessed"] += len(claimed)
            if len(claimed) < len(ids):
                _count_missing(sessions, report, [i for i in ids if i not in claimed])
            return report
        except IntegrityError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _count_missing(sessions, report: InboundReport, missing: list[int]) -> None:
    """Split the given ids that were not claimed into ``not_quarantined`` (the mail exists) and ``not_found``."""
    with sessions() as s:
        known = set(s.scalars(select(InboundMail.id).where(InboundMail.id.in_(missing))))
    if known:
        report.counts["not_quarantined"] += len(known)
    report.not_found.extend(i for i in missing if i not in known)
    if report.not_found:
        report.counts["not_found"] += len(report.not_found)
