"""Inbound e-mail (issue 13): one processing function for the IMAP poll and the inbound webhook.

:func:`process_mail` takes raw RFC 822 messages; :func:`poll_mailbox` feeds it from a mailbox and marks
what it fetched as seen only after the commit. Module docstrings say the rules.
"""

from __future__ import annotations

from closeloop.services.inbound.attachments import InboundOptions
from closeloop.services.inbound.poll import MailSource, poll_mailbox
from closeloop.services.inbound.process import InboundReport, MailResult, MailVia, process_mail

__all__ = ["InboundOptions", "InboundReport", "MailResult", "MailSource", "MailVia", "poll_mailbox", "process_mail"]
