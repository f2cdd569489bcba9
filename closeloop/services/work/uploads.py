"""Files uploaded by staff on a complaint or one of its tasks (issue 14 §4), optionally with an internal note.

The same storage as the attachments of inbound e-mail (:mod:`closeloop.services.inbound.attachments`): stored
once under its SHA-256, the type sniffed from the bytes (never the name), listed on the complaint page and
downloaded through the same scoped, always-``attachment`` response. Unlike a mail's part, a file over the cap
is refused outright (``InvalidInput`` naming ``file``: nothing is written). One transaction per upload: the
``attachment`` row (``uploaded_by`` the actor, ``task_id``, ``message_id`` of the note it came with), the note
and its mentions (:func:`closeloop.services.work.notes.note_in_session`) and the complaint's ``attach`` audit row
(``data``: attachment id, SHA-256, size, task). A merged complaint's uploads land on its survivor, as notes do.
The file is written before the commit (a rolled-back upload may leave an unlisted file, reused by the next copy).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from closeloop.config import Config
from closeloop.domain.errors import InvalidInput, NotFound
from closeloop.domain.inbound_mail import AttachmentStatus, sniff_type
from closeloop.services.inbound.attachments import InboundOptions, Listed, store_file
from closeloop.services.transitions import record_event
from closeloop.services.uow import unit_of_work
from closeloop.services.work.complaints import root_of
from closeloop.services.work.notes import check_body, note_in_session
from models.tables import Attachment, Task

MAX_FILENAME = 255


@dataclass(frozen=True)
class Upload:
    """One file as the caller sent it: the name and type the client gave (neither trusted), the bytes."""

    filename: str
    declared_type: str
    data: bytes


def check_upload(f: Upload, options: InboundOptions) -> str:
    """The cleaned file name; ``InvalidInput`` naming ``file`` when it is empty or over the size cap."""
    if not f.data:
        raise InvalidInput("file", "the file is empty")
    if len(f.data) > options.max_attachment_bytes:
        raise InvalidInput("file", f"{len(f.data)} bytes is over the limit of {options.max_attachment_bytes} bytes")
    name = "".join(ch for ch in f.filename.replace("\\", "/").rsplit("/", 1)[-1] if ch.isprintable()).strip()
    return (name or "file")[:MAX_FILENAME]


def upload(sessions, config: Config, complaint_id: int, f: Upload, *, options: InboundOptions, actor: str,
           at: datetime, task_id: int | None = None, note: str | None = None, channel: str = "api") -> Listed:
    """Store ``f`` on the complaint (or its task ``task_id``), with an optional internal ``note`` (mentions
    notified as :func:`closeloop.services.work.notes.add_note`). Returns the listed attachment. Raises
    ``NotFound`` (complaint, task), ``InvalidInput`` (``file``: empty or too large; ``task_id``: a task of
    another complaint; ``body``: the note as for notes)."""
    name = check_upload(f, options)
    if note is not None:
        check_body(note)
    with unit_of_work(sessions) as s:
        root = root_of(s, complaint_id)
        if task_id is not None:
            task = s.get(Task, task_id)
            if task is None:
                raise NotFound("task", task_id)
            if task.complaint_id not in (complaint_id, root.id):
                raise InvalidInput("task_id", f"task {task_id} is not a task of complaint {complaint_id}")
        message_id = None
        if note is not None:
            message_id = note_in_session(s, config, root.id, note, author=actor, at=at, channel=channel).message_id
        digest = store_file(options.attachment_dir, f.data)
        row = Attachment(complaint_id=root.id, inbound_mail_id=None, task_id=task_id, message_id=message_id,
                         uploaded_by=actor[:200], filename=name, declared_type=f.declared_type[:100],
                         content_type=sniff_type(f.data), size=len(f.data), sha256=digest,
                         status=AttachmentStatus.STORED, reason=None, at=at)
        s.add(row)
        s.flush()
        record_event(s, root, "attach", at=at, actor=actor, data={
            "attachment": row.id, "sha256": digest, "size": row.size, "task": task_id, "note": message_id})
        return Listed(row.id, row.complaint_id, row.filename, row.declared_type, row.content_type, row.size,
                      row.sha256, row.status, row.reason, row.at, row.uploaded_by, row.task_id)
