"""Test helper: put attachments on an existing complaint as if its customer's e-mail had brought them
(an ``inbound_mail`` row plus :func:`~closeloop.services.inbound.attachments.attachment_rows`, which stores
the files content-addressed), without depending on where triage routes an e-mail."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from closeloop.domain.inbound_mail import Part
from closeloop.services.inbound.attachments import InboundOptions, attachment_rows
from models.tables import Attachment, InboundMail

AT = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def attach(sessions, directory: Path, complaint_id: int, *parts: tuple[bytes, str, str],
           cap: int = 10 * 1024 * 1024) -> list[int]:
    """Store ``parts`` (data, file name, declared type) on ``complaint_id``; returns the attachment ids."""
    with sessions() as s:
        mail_id = s.scalar(insert(InboundMail).returning(InboundMail.id).values(
            key=os.urandom(32).hex(), via="webhook", outcome="reply", complaint_id=complaint_id, size=1,
            processed_at=AT))
        rows = attachment_rows(tuple(Part(name, declared, data) for data, name, declared in parts),
                               complaint_id=complaint_id, inbound_mail_id=mail_id,
                               options=InboundOptions(directory, cap), at=AT)
        ids = list(s.scalars(insert(Attachment).returning(Attachment.id), rows))
        s.commit()
        return ids
