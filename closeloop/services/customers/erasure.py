"""Erasing a customer's inbound e-mail (part of ``closeloop customers forget``).

- **Quarantined mail** (``mail_quarantine`` keeps the raw bytes, address and body included): the rows whose
  ``From`` address (:func:`~closeloop.domain.inbound_mail.header_sender`, the header block only) is one of
  the customer's e-mail addresses are deleted; their ``inbound_mail`` rows stay (ids, outcome, reason, size:
  no personal data), so the counts do not move. Mail without a readable sender cannot be attributed.
- **Attachments** of the customer's complaints: the rows are deleted (a file name is personal data). A stored
  file is content-addressed and may also belong to another customer's message: it is deleted only when no
  remaining ``attachment`` row names its SHA-256 (:func:`unreferenced`, inside the erasing transaction) and
  removed from disk after the commit (:func:`remove_files`, which checks the references again first).
- **Message-IDs** of the customer's mails (some mail programs put the sender's host or address in them):
  ``complaint.extra["message_id"]`` of their complaints and ``message.mail_id`` of the inbound messages that
  arrived on them are cleared (:func:`erase_mail_ids`). Our own outbound Message-IDs stay, so other
  customers' threads and the erased complaints' statistics are untouched.

Kept, knowingly: ``inbound_mail.key`` and ``complaint.external_ref`` hold the SHA-256 of a mail's Message-ID
(of the raw bytes without one); they make a re-fetched mail a duplicate instead of a new complaint, and a
later reply quoting that Message-ID still threads. A Message-ID built from the address can be confirmed
against its hash by someone who already knows the address.

Known limit: a concurrent intake taking in the very same content between that last check and the unlink
keeps a row whose file is gone; the download then answers 404 ("file missing") and the sender's next copy
stores it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.orm import Session

from closeloop.domain.customer import MessageDirection
from closeloop.domain.inbound_mail import OPENING_MAIL_ID, header_sender
from closeloop.services.bulk import rowcount
from closeloop.services.uow import unit_of_work
from models.tables import Attachment, Complaint, MailQuarantine, Message

#: Bytes of each quarantined message read to find its header block (headers beyond are not looked at).
HEADER_BYTES = 64 * 1024
CHUNK = 400


@dataclass(frozen=True)
class MailErasure:
    """What was erased: quarantined messages, attachment rows, and the SHA-256 of files no row names any more."""

    quarantined: int
    attachments: int
    orphan_files: frozenset[str]


def erase_mail(s: Session, complaint_ids: list[int], addresses: set[str]) -> MailErasure:
    """Delete the quarantined mail from ``addresses`` (lower-cased) and the attachment rows of ``complaint_ids``
    inside the caller's transaction; returns the counts and the files now unreferenced (not yet removed)."""
    quarantined = _erase_quarantine(s, addresses) if addresses else 0
    digests: set[str] = set()
    n_attachments = 0
    for chunk in _chunks(complaint_ids):
        digests |= {d for d in s.scalars(select(Attachment.sha256).where(Attachment.complaint_id.in_(chunk))) if d}
        n_attachments += rowcount(s.execute(delete(Attachment).where(Attachment.complaint_id.in_(chunk))))
    return MailErasure(quarantined, n_attachments, frozenset(unreferenced(s, digests)))


def erase_mail_ids(s: Session, complaint_ids: list[int]) -> int:
    """Clear the Message-IDs of the customer's mails on ``complaint_ids`` (the opening mail's in
    ``complaint.extra``, each inbound message's ``mail_id`` where it arrived on one of them) inside the
    caller's transaction; returns how many were cleared (0 when run again)."""
    cleared = 0
    ct = Complaint.__table__
    for chunk in _chunks(complaint_ids):
        extras = [{"cid": cid, "extra": {k: v for k, v in extra.items() if k != OPENING_MAIL_ID}}
                  for cid, extra in s.execute(select(ct.c.id, ct.c.extra).where(ct.c.id.in_(chunk)))
                  if extra and OPENING_MAIL_ID in extra]
        if extras:
            s.execute(update(ct).where(ct.c.id == bindparam("cid")).values(extra=bindparam("extra")), extras)
        cleared += len(extras) + rowcount(s.execute(update(Message).where(
            Message.original_complaint_id.in_(chunk), Message.direction == MessageDirection.INBOUND,
            Message.mail_id.is_not(None)).values(mail_id=None)))
    return cleared


def _erase_quarantine(s: Session, addresses: set[str]) -> int:
    """Delete the quarantined messages whose sender is in ``addresses``; returns how many."""
    head = func.substr(MailQuarantine.raw, 1, HEADER_BYTES)
    ids = [mid for mid, raw in s.execute(select(MailQuarantine.inbound_mail_id, head))
           if header_sender(bytes(raw)) in addresses]
    return sum(rowcount(s.execute(delete(MailQuarantine).where(MailQuarantine.inbound_mail_id.in_(chunk))))
               for chunk in _chunks(ids))


def unreferenced(s: Session, digests: Iterable[str]) -> set[str]:
    """The SHA-256 values in ``digests`` that no ``attachment`` row names."""
    left = set(digests)
    for chunk in _chunks(left):
        left -= set(s.scalars(select(Attachment.sha256).where(Attachment.sha256.in_(chunk)).distinct()))
    return left


def remove_files(sessions, directory: Path, digests: Iterable[str]) -> int:
    """Delete the stored files of ``digests`` that are still unreferenced (checked again); returns how many
    were removed from disk."""
    wanted = set(digests)
    if not wanted:
        return 0
    with unit_of_work(sessions) as s:
        gone = unreferenced(s, wanted)
    removed = 0
    for digest in sorted(gone):
        path = directory / digest[:2] / digest
        if path.exists():
            path.unlink()
            removed += 1
    return removed


def _chunks(values: Iterable, size: int = CHUNK):
    seq = sorted(set(values))
    for i in range(0, len(seq), size):
        yield seq[i:i + size]
