"""Poll a mailbox: fetch unseen messages in batches, process each batch, then mark it seen.

A message is flagged ``\\Seen`` only after its batch committed; a crash in between leaves it unseen,
and the next poll finds it again and counts it a duplicate (``inbound_mail.key`` is unique), flagging it
then. The mailbox is a :class:`MailSource` (``integrations/imap.py`` has the IMAP one): services never
open a network connection themselves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from closeloop.config import Config
from closeloop.services.inbound.attachments import InboundOptions
from closeloop.services.inbound.process import InboundReport, MailVia, process_mail

#: Messages fetched and processed per transaction.
DEFAULT_BATCH = 100


class MailSource(Protocol):
    def unseen(self) -> list[str]:
        """The ids (IMAP UIDs) of the unseen messages, oldest first."""
        ...

    def fetch(self, uids: list[str]) -> list[tuple[str, bytes]]:
        """``(uid, raw RFC 822 bytes)`` of ``uids`` (without setting ``\\Seen``)."""
        ...

    def mark_seen(self, uids: list[str]) -> None:
        ...


def poll_mailbox(sessions, config: Config, source: MailSource, *, now: datetime, options: InboundOptions,
                 batch_size: int = DEFAULT_BATCH, max_messages: int | None = None) -> InboundReport:
    """Process the unseen messages of ``source`` (at most ``max_messages``), ``batch_size`` per transaction."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    uids = source.unseen()
    if max_messages is not None:
        uids = uids[:max_messages]
    report = InboundReport()
    for i in range(0, len(uids), batch_size):
        fetched = source.fetch(uids[i:i + batch_size])
        if not fetched:
            continue
        report.add(process_mail(sessions, config, [raw for _, raw in fetched], now=now, via=MailVia.IMAP,
                                options=options))
        source.mark_seen([uid for uid, _ in fetched])  # only after the batch committed
    if report.results:
        report.counts["polled"] = len(report.results)
    return report
