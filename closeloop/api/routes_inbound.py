"""Inbound e-mail: the webhook a mail provider posts raw messages to, and a complaint's attachments.

``POST /inbound/email`` takes one raw RFC 822 message (``Content-Type: message/rfc822``) and runs the same
processing as the IMAP poll (:func:`closeloop.services.inbound.process_mail`): 201 with the outcome, or
200 when the message (same Message-ID) was processed before. Manager tokens only (like intake): give the
provider its own manager token. A message may carry an attachment up to ``CLOSELOOP_ATTACHMENT_MAX_BYTES``
(base64-encoded): larger messages than :func:`closeloop.api.limits.mail_limit` (about 14.7 MiB for the
defaults: the cap x 4/3 with line breaks, plus ``CLOSELOOP_API_MAX_BODY_BYTES``) get 413 naming the limit.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from closeloop.bootstrap import App
from closeloop.http.files import attachment_response
from closeloop.services.inbound import InboundOptions, MailVia, process_mail
from closeloop.services.inbound.attachments import attachments_of
from closeloop.services.inbound.reprocess import reprocess

from .auth import MANAGER, WORK_ROLES, Principal, get_app, require
from .deps import Id
from .errors import ApiError, sent_media
from .routes_complaints import ensure_visible
from .schemas import UtcDatetime

router = APIRouter(tags=["inbound e-mail"])
MEDIA_TYPE = "message/rfc822"


class InboundOut(BaseModel):
    key: str = Field(description="SHA-256 of the Message-ID (of the raw message without one): the idempotency key")
    outcome: str | None = Field(description="complaint | reply | ignored | quarantined; for a duplicate, what became "
                                            "of the message the first time (null: two copies in one batch)")
    reason: str | None = Field(description="why: the loop or quarantine reason, or how it was threaded")
    complaint_id: int | None
    duplicate: bool = Field(description="processed before: nothing changed")


async def raw_message(request: Request) -> bytes:
    """Dependency: the request body as one raw message (415 for another media type, 422 when empty)."""
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media != MEDIA_TYPE:
        raise ApiError(415, f"Content-Type must be {MEDIA_TYPE} (one raw message; {sent_media(media)})",
                       field="Content-Type")
    raw = await request.body()
    if not raw.strip():
        raise ApiError(422, "the message is empty", field="body")
    return raw


RAW_BODY = {"requestBody": {"required": True, "description": "one raw RFC 822 message",
                            "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}}


@router.post("/inbound/email", status_code=201, response_model=InboundOut, openapi_extra=RAW_BODY,
             responses={200: {"model": InboundOut, "description": "processed before (same Message-ID)"},
                        415: {"description": f"the body is not {MEDIA_TYPE}"}})
def inbound_email(response: Response, who: Principal = Depends(require(MANAGER)), raw: bytes = Depends(raw_message),
                  app: App = Depends(get_app)) -> InboundOut:
    """Take in one e-mail as the IMAP poll would: a new complaint, a reply on its complaint, an ignored
    auto-reply or bounce, or quarantined unreadable mail."""
    report = process_mail(app.sessions, app.config, [raw], now=app.clock.now(), via=MailVia.WEBHOOK,
                          options=InboundOptions.from_settings(app.settings))
    (r,) = report.results
    response.status_code = 200 if r.duplicate else 201
    return InboundOut(key=r.key, outcome=r.outcome, reason=r.reason, complaint_id=r.complaint_id,
                      duplicate=r.duplicate)


class ReprocessIn(BaseModel):
    ids: list[Id] | None = Field(None, max_length=1000, description="inbound mail ids (of the quarantine)")
    all: bool = Field(False, description="every quarantined message instead of ids")


class ReprocessOut(BaseModel):
    counts: dict[str, int] = Field(description="reprocessed, not_quarantined (the mail exists, not in quarantine), "
                                               "not_found (no such inbound mail) and the outcomes as for new mail")
    not_found: list[int] = Field(default_factory=list, description="the given ids of no inbound mail at all")
    results: list[InboundOut]


@router.post("/inbound/email/reprocess", response_model=ReprocessOut)
def reprocess_quarantine(body: ReprocessIn, who: Principal = Depends(require(MANAGER)),
                         app: App = Depends(get_app)) -> ReprocessOut:
    """Run quarantined messages through the intake again (after a fix), as ``closeloop mail reprocess``:
    each becomes a complaint, a reply or ignored automatic mail, or stays quarantined with the reason of this
    reading. Idempotent: a message reprocessed twice makes one complaint. Manager tokens only."""
    if body.ids and body.all:
        raise ApiError(422, "give ids or all=true, not both", field="ids")
    if not body.ids and not body.all:
        raise ApiError(422, "give ids (inbound mail ids of the quarantine) or all=true", field="ids")
    report = reprocess(app.sessions, app.config, now=app.clock.now(),
                       options=InboundOptions.from_settings(app.settings), ids=None if body.all else body.ids)
    if body.ids and len(report.not_found) == len(set(body.ids)):
        raise ApiError(422, f"no inbound mail with id {', '.join(map(str, report.not_found))}", field="ids")
    return ReprocessOut(counts=report.as_dict(), not_found=report.not_found, results=[
        InboundOut(key=r.key, outcome=r.outcome, reason=r.reason, complaint_id=r.complaint_id, duplicate=r.duplicate)
        for r in report.results])


class AttachmentOut(BaseModel):
    id: int
    complaint_id: int = Field(description="where it arrived (a complaint merged into this one included)")
    filename: str = Field(description="the name the sender gave; not trusted for the type")
    declared_type: str
    content_type: str | None = Field(description="sniffed from the content; null when not stored")
    size: int
    sha256: str | None = Field(description="the stored file's content address; null when refused")
    status: str = Field(description="stored | refused")
    reason: str | None = Field(description="why it was refused (too_large)")
    at: UtcDatetime
    uploaded_by: str | None = Field(None, description="the staff member who uploaded it; null: from an e-mail")
    task_id: int | None = Field(None, description="the task it was uploaded on, if any")


@router.get("/complaints/{complaint_id}/attachments", response_model=list[AttachmentOut])
def attachments(complaint_id: Id, who: Principal = Depends(require(*WORK_ROLES)),
                app: App = Depends(get_app)) -> list[AttachmentOut]:
    """The files on this complaint, oldest first: those that came with the customer's e-mail and those staff
    uploaded (``uploaded_by`` set)."""
    ensure_visible(app, who, complaint_id)
    return [AttachmentOut(**vars(a)) for a in attachments_of(app.sessions, complaint_id)]


@router.get("/complaints/{complaint_id}/attachments/{attachment_id}", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                   "format": "binary"}}},
                             "description": "the file, always as a download (Content-Disposition: attachment); "
                                            "Content-Type is the sniffed type when safe, else "
                                            "application/octet-stream"},
                       404: {"description": "no such attachment on this complaint, not stored (refused), "
                                            "erased, or its file is missing"}})
def download_attachment(complaint_id: Id, attachment_id: Id, who: Principal = Depends(require(*WORK_ROLES)),
                        app: App = Depends(get_app)) -> FileResponse:
    """Download one attachment of this complaint (or of a complaint merged into it); the complaint's scope
    applies (403 for a complaint without a task in the caller's department)."""
    ensure_visible(app, who, complaint_id)
    return attachment_response(app, complaint_id, attachment_id)
