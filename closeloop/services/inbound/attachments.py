"""Attachments of inbound e-mail: content-addressed files and their rows on the complaint.

A file is stored once under ``<dir>/<sha256[:2]>/<sha256>`` (written to a temporary name, then renamed,
so a reader never sees half a file; the same content twice is one file). A file over the size cap is
not stored: its row says ``refused`` / ``too_large`` and the message itself is still processed. The type
is sniffed from the bytes (:func:`closeloop.domain.inbound_mail.sniff_type`), never taken from the name.
Files are written before the transaction commits: a rolled-back batch may leave an unlisted file behind,
which a later copy of the same content reuses.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import or_, select

from closeloop.domain.errors import NotFound
from closeloop.domain.inbound_mail import AttachmentRefusal, AttachmentStatus, Part, sniff_type
from models.tables import Attachment, Complaint

#: The default size cap of one attachment (10 MiB).
DEFAULT_MAX_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class InboundOptions:
    """Where attachments go and how large one may be (``CLOSELOOP_ATTACHMENT_DIR``, ``..._MAX_BYTES``)."""

    attachment_dir: Path
    max_attachment_bytes: int = DEFAULT_MAX_BYTES

    @classmethod
    def from_settings(cls, settings) -> InboundOptions:
        return cls(Path(settings.attachment_dir), settings.attachment_max_bytes)


def store_file(directory: Path, data: bytes) -> str:
    """Write ``data`` content-addressed under ``directory`` (once); returns its SHA-256."""
    digest = hashlib.sha256(data).hexdigest()
    target = directory / digest[:2] / digest
    if target.exists():
        return digest
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest


def attachment_rows(parts: tuple[Part, ...], *, complaint_id: int, inbound_mail_id: int, options: InboundOptions,
                    at: datetime) -> list[dict]:
    """The ``attachment`` rows of one message's parts, storing the files that fit under the cap."""
    rows = []
    for p in parts:
        row = {"complaint_id": complaint_id, "inbound_mail_id": inbound_mail_id, "filename": p.filename,
               "declared_type": p.declared_type, "size": len(p.data), "at": at}
        if len(p.data) > options.max_attachment_bytes:
            row |= {"status": AttachmentStatus.REFUSED, "reason": AttachmentRefusal.TOO_LARGE, "sha256": None,
                    "content_type": None}
        else:
            row |= {"status": AttachmentStatus.STORED, "reason": None, "content_type": sniff_type(p.data),
                    "sha256": store_file(options.attachment_dir, p.data)}
        rows.append(row)
    return rows


def attachment_path(options: InboundOptions, sha256: str) -> Path:
    return options.attachment_dir / sha256[:2] / sha256


@dataclass(frozen=True)
class Listed:
    """One attachment as the complaint lists it (``complaint_id``: where it arrived, a merged one included;
    ``uploaded_by`` the staff actor who uploaded it, None for a file of an inbound e-mail; ``task_id`` the task
    it was uploaded on, if any)."""

    id: int
    complaint_id: int
    filename: str
    declared_type: str
    content_type: str | None
    size: int
    sha256: str | None
    status: str
    reason: str | None
    at: datetime
    uploaded_by: str | None = None
    task_id: int | None = None


def attachments_of(sessions, complaint_id: int) -> list[Listed]:
    """The attachments of ``complaint_id`` and of the complaints merged into it, oldest first."""


    with sessions() as s:
        merged = select(Complaint.id).where(Complaint.merged_into_id == complaint_id)
        rows = s.scalars(select(Attachment).where(or_(Attachment.complaint_id == complaint_id,
                                                      Attachment.complaint_id.in_(merged)))
                         .order_by(Attachment.id)).all()
        return [Listed(a.id, a.complaint_id, a.filename, a.declared_type, a.content_type, a.size, a.sha256,
                       a.status, a.reason, a.at, a.uploaded_by, a.task_id) for a in rows]


def attachment_file(sessions, complaint_id: int, attachment_id: int, directory: Path) -> tuple[Listed, Path]:
    """Attachment ``attachment_id`` of complaint ``complaint_id`` (or of a complaint merged into it) and its
    stored file. Raises ``NotFound("attachment", ...)`` when it is not on that complaint, was not stored
    (refused), was erased, or its file is missing from ``directory``. The caller checks the complaint's scope."""
    listed = next((a for a in attachments_of(sessions, complaint_id) if a.id == attachment_id), None)
    if listed is None:
        raise NotFound("attachment", attachment_id)
    if listed.sha256 is None:
        raise NotFound(f"stored file ({listed.status}: {listed.reason}) of attachment", attachment_id)
    path = directory / listed.sha256[:2] / listed.sha256
    if not path.is_file():
        raise NotFound("stored file (missing) of attachment", attachment_id)
    return listed, path
