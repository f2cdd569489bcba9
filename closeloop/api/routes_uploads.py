"""``POST /complaints/{id}/attachments`` (issue 14 §4): staff upload a file on a complaint or one of its tasks.

``multipart/form-data`` with ``file`` (required), ``task_id`` (optional: a task of this complaint) and ``note``
(optional: an internal note that comes with the file; ``@handle`` mentions as ``POST .../notes``). Member, lead
and manager, the complaint's scope as for every read of it (403 outside the caller's department). The same
storage, size cap (``CLOSELOOP_ATTACHMENT_MAX_BYTES``: 422 naming ``file`` above it, and 413 when the whole
request is over the cap plus 64 KiB), sniffed type and scoped download (``GET .../attachments/{id}``) as the
files of inbound e-mail; audited (``attach`` on the complaint). See :mod:`closeloop.services.work.uploads`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile

from closeloop.bootstrap import App
from closeloop.services.inbound import InboundOptions
from closeloop.services.work.notes import MAX_NOTE
from closeloop.services.work.uploads import Upload, upload

from .auth import WORK_ROLES, Principal, get_app, require
from .deps import MAX_ID, Id
from .routes_complaints import ensure_visible
from .routes_inbound import AttachmentOut

router = APIRouter(tags=["complaints"])


@router.post("/complaints/{complaint_id}/attachments", status_code=201, response_model=AttachmentOut)
def upload_attachment(complaint_id: Id, file: Annotated[UploadFile, File(description="the file (any type; the "
                                                                                 "stored type is sniffed)")],
                      task_id: Annotated[int | None, Form(ge=1, le=MAX_ID, description="a task of this complaint")]
                      = None,
                      note: Annotated[str | None, Form(min_length=1, max_length=MAX_NOTE, pattern=r"\S",
                                                       description="an internal note with the file")] = None,
                      who: Principal = Depends(require(*WORK_ROLES)), app: App = Depends(get_app)) -> AttachmentOut:
    """Upload a file on the complaint (or on its task ``task_id``), with an optional internal note. 422 naming
    ``file`` (empty, over the cap), ``task_id`` (another complaint's task) or ``note`` (an unknown
    ``@handle``: ``body``)."""
    ensure_visible(app, who, complaint_id)
    options = InboundOptions.from_settings(app.settings)
    data = file.file.read(options.max_attachment_bytes + 1)
    f = Upload(file.filename or "", file.content_type or "", data)
    listed = upload(app.sessions, app.config, complaint_id, f, options=options, actor=who.actor,
                    at=app.clock.now(), task_id=task_id, note=note)
    return AttachmentOut(**vars(listed))
