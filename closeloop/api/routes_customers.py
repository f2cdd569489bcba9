"""Speaking to the customer (issue 13): replies, the follow-up verdict links, promises to the customer;
the customer's history (issue 14): ``GET /customers/{ref}``.

Access: members and leads reply on complaints their department's tasks touch; managers on any. The
customer's history shows a member or lead only the complaints their department's tasks touch (and the
promises, compensation and verdicts on those); 403 when there is none, 404 for an unknown ref.
``/follow-up/{task}/{verdict}`` takes no token: the link's HMAC signature is the authority.
"""

from __future__ import annotations

import html
import logging
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from closeloop.bootstrap import App
from closeloop.domain.customer import ContactKind
from closeloop.domain.errors import DomainError, NotFound
from closeloop.services.customers.links import LinkRefused, Verdict, VerdictLinks
from closeloop.services.customers.promises import (
    MAX_CONTACT,
    MAX_DESCRIPTION,
    keep_promise,
    make_promise,
    promises_of,
)
from closeloop.services.customers.replies import MAX_REPLY, send_reply
from closeloop.services.customers.verdicts import ClickOutcome, link_language, record_click, withdrawn
from closeloop.services.customers.view import (
    CustomerCompensation,
    CustomerComplaint,
    CustomerPromise,
    CustomerVerdict,
    customer_view,
)
from closeloop.services.reads.complaint_queries import complaint_in_scope
from models.tables import Promise

from .auth import MANAGER, WORK_ROLES, Principal, get_app, require
from .deps import Id, Instant
from .errors import ApiError, domain_error
from .schemas import In, Out, UtcDatetime

_log = logging.getLogger("closeloop.api")
router = APIRouter(tags=["customers"])


class ReplyIn(In):
    text: str = Field(min_length=1, max_length=MAX_REPLY, description="the agent's words; greeting, complaint "
                                                                       "number and signature are added in the "
                                                                       "customer's language")
    idempotency_key: str | None = Field(None, min_length=1, max_length=100, pattern=r"^\S(?:[^\x00-\x1f\x7f]*\S)?$",
                                        description="names this request: the same key and text again sends "
                                                    "nothing (200, the first reply's outbox id); the same key with "
                                                    "another text is a 422 naming idempotency_key. Without one, "
                                                    "the same text within 10 minutes of an earlier reply on the "
                                                    "complaint is a double submit (200); later it is sent again")


class ReplyOut(BaseModel):
    complaint_id: int = Field(description="where it was recorded (a merged complaint's survivor)")
    key: str = Field(description="the outbox idempotency key")
    outbox_id: int = Field(description="the reply's outbox row; on a repeat (HTTP 200) the first request's")
    queued: bool = Field(description="true when this request queued the message (201); false on a repeat (200)")


@router.post("/complaints/{complaint_id}/replies", status_code=201, response_model=ReplyOut,
             responses={200: {"model": ReplyOut, "description": "a repeat: the same key and text, or without a key "
                                                                "the same text within 10 minutes; nothing sent"}})
def reply(complaint_id: Id, body: ReplyIn, response: Response, who: Principal = Depends(require(*WORK_ROLES)),
          app: App = Depends(get_app)) -> ReplyOut:
    """Send the agent's reply to the customer through the outbox (the customer's language and consented
    channel); it shows on the complaint's timeline. 422 (``customer``) when nobody can be reached."""
    _scope(app, who, complaint_id)
    r = send_reply(app.sessions, app.config, complaint_id, body.text, actor=who.actor, at=app.clock.now(),
                   idempotency_key=body.idempotency_key)
    response.status_code = 201 if r.created else 200
    return ReplyOut(complaint_id=r.complaint_id, key=r.key, outbox_id=r.outbox_id, queued=r.created)


# --- the follow-up mail's verdict links (no token: the HMAC signature is the authority) -----------------

PAGE = {
    "en": {"title": "Your answer", "solved": "Is your problem solved? You answer: yes, it is solved.",
           "not-solved": "Is your problem solved? You answer: no, it is not solved; we will reopen your complaint.",
           "confirm": "Confirm", "recorded": "Thank you: your answer is recorded.",
           "already": "Your answer was recorded before; nothing changed.",
           "closed": "This question is no longer open: your complaint was reopened meanwhile, so nothing changed. "
                     "We will write to you again.",
           "expired": "This link has expired. Please reply to our mail instead.",
           "refused": "This link is not valid.",
           "failed": "We could not record your answer just now. Please reply to our mail instead."},
    "zh": {"title": "您的答复", "solved": "您的问题解决了吗？您的答复：已解决。",
           "not-solved": "您的问题解决了吗？您的答复：未解决，我们将重新处理您的投诉。",
           "confirm": "确认", "recorded": "谢谢，您的答复已记录。", "already": "您之前已答复过，本次未作更改。",
           "closed": "此问题已不再需要答复：您的投诉已重新开启处理，本次未作更改。我们会再与您联系。",
           "expired": "此链接已过期，请直接回复我们的邮件。", "refused": "此链接无效。",
           "failed": "暂时无法记录您的答复，请直接回复我们的邮件。"},
}


def _page(language: str, message: str, form: str = "") -> str:
    t = PAGE.get(language, PAGE["en"])
    return (f'<!DOCTYPE html><html lang="{html.escape(language)}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width"><title>{html.escape(t["title"])}</title></head>'
            f'<body><main><h1>{html.escape(t["title"])}</h1><p>{html.escape(message)}</p>{form}</main></body></html>')


def _links(app: App) -> VerdictLinks:
    return VerdictLinks.from_settings(app.settings, app.config.model.customers.verdict_link_days)


_PAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "an HTML page in the customer's language", "content": {"text/html": {}}},
    403: {"description": "forged link (HTML page)"},
    410: {"description": "expired link, or a follow-up no longer open (HTML page)"}}


@router.get("/follow-up/{task_id}/{verdict}", response_model=None, responses=_PAGE_RESPONSES)
def verdict_page(task_id: Id, verdict: Verdict, e: int = Query(..., ge=0, le=10**11),
                 s: str = Query(..., max_length=64), app: App = Depends(get_app)) -> HTMLResponse:
    """The page a verdict link opens: it checks the link and asks to confirm (a mail scanner fetching the
    link records nothing). No token: the link's signature is the authority."""
    language = link_language(app.sessions, app.config, task_id)
    t = PAGE.get(language, PAGE["en"])
    try:
        _links(app).check(task_id, verdict, e, s, app.clock.now())
    except LinkRefused as exc:
        return HTMLResponse(_page(language, t["expired" if exc.expired else "refused"]), 410 if exc.expired else 403)
    if withdrawn(app.sessions, task_id):  # the complaint was reopened: nothing left to answer
        return HTMLResponse(_page(language, t["closed"]), 410)
    action = html.escape(f"?e={e}&s={s}")  # the POST carries the same signed query
    form = f'<form method="post" action="{action}"><button type="submit">{html.escape(t["confirm"])}</button></form>'

    return HTMLResponse(_page(language, t[verdict.value], form))


@router.post("/follow-up/{task_id}/{verdict}", response_model=None, responses=_PAGE_RESPONSES)
def verdict_record(task_id: Id, verdict: Verdict, e: int = Query(..., ge=0, le=10**11),
                   s: str = Query(..., max_length=64), app: App = Depends(get_app)) -> HTMLResponse:
    """Record the customer's verdict once (solved closes the complaint; not solved reopens it to the
    department that did the work); a second click changes nothing."""
    try:
        click = record_click(app.sessions, app.config, _links(app), task_id, verdict, e, s, at=app.clock.now())
    except LinkRefused as exc:
        language = link_language(app.sessions, app.config, task_id)
        t = PAGE.get(language, PAGE["en"])
        return HTMLResponse(_page(language, t["expired" if exc.expired else "refused"]), 410 if exc.expired else 403)
    except DomainError as exc:  # the customer reads a page in their language, never the API's JSON error
        _log.error("follow-up verdict on task %s not recorded: %s", task_id, exc)
        language = link_language(app.sessions, app.config, task_id)
        status = domain_error(exc).status_code
        return HTMLResponse(_page(language, PAGE.get(language, PAGE["en"])["failed"]), status)
    t = PAGE.get(click.language, PAGE["en"])
    status = 410 if click.outcome is ClickOutcome.CLOSED else 200  # a follow-up a reopen withdrew: nothing recorded
    return HTMLResponse(_page(click.language, t[click.outcome.value]), status)


# --- promises to the customer ------------------------------------------------------------------------

class PromiseIn(In):
    department: str = Field(max_length=64)
    kind: Literal["call_back", "send_document", "refund", "other"]
    due: Instant | None = Field(None, description="by when (UTC-aware); or business_hours")
    business_hours: float | None = Field(None, gt=0, le=2000, description="from now, on the department's calendar")
    person: str | None = Field(None, min_length=1, max_length=200)
    description: str = Field("", max_length=MAX_DESCRIPTION)


class KeepIn(In):
    message_id: int | None = Field(None, ge=1, description="an outbound message on the complaint (the contact)")
    task_id: int | None = Field(None, ge=1, description="a finished task of the promising department (the action)")
    contact: str | None = Field(None, min_length=1, max_length=MAX_CONTACT, description="record a contact made now")
    channel: ContactKind = Field(ContactKind.PHONE, description="where the ``contact`` was made (as the CLI's "
                                                             "``promises keep --channel``); another value is a "
                                                             "422 naming ``channel``")


class PromiseOut(Out):
    id: int
    complaint_id: int
    department: str
    person: str | None
    kind: str
    description: str
    due_at: UtcDatetime
    status: str
    made_by: str
    made_at: UtcDatetime
    reminded_at: UtcDatetime | None
    broken_at: UtcDatetime | None
    kept_at: UtcDatetime | None
    kept_by_message_id: int | None
    kept_by_task_id: int | None


def _scope(app: App, who: Principal, complaint_id: int) -> None:
    scope = None if who.role == MANAGER else who.department
    if not complaint_in_scope(app.sessions, complaint_id, scope):
        raise ApiError(403, f"complaint {complaint_id} has no task in department {who.department!r}")


@router.get("/complaints/{complaint_id}/promises", response_model=list[PromiseOut])
def promises(complaint_id: Id, who: Principal = Depends(require(*WORK_ROLES)),
             app: App = Depends(get_app)) -> list[PromiseOut]:
    """The promises made to the customer on this complaint (who, what, by when, kept or broken)."""
    _scope(app, who, complaint_id)
    return [PromiseOut.model_validate(p) for p in promises_of(app.sessions, complaint_id)]


@router.post("/complaints/{complaint_id}/promises", status_code=201, response_model=PromiseOut)
def promise_make(complaint_id: Id, body: PromiseIn, who: Principal = Depends(require(*WORK_ROLES)),
                 app: App = Depends(get_app)) -> PromiseOut:
    """Record a promise to the customer; reminded before it is due, broken and escalated at the due instant."""
    _scope(app, who, complaint_id)
    p = make_promise(app.sessions, app.config, complaint_id, department=body.department, kind=body.kind,
                     due=body.due, business_hours=body.business_hours, person=body.person,
                     description=body.description, actor=who.actor, at=app.clock.now())
    return PromiseOut.model_validate(p)


@router.post("/promises/{promise_id}/keep", response_model=PromiseOut,
             responses={409: {"description": "the promise is kept or cancelled already"}})
def promise_keep(promise_id: Id, body: KeepIn, who: Principal = Depends(require(*WORK_ROLES)),
                 app: App = Depends(get_app)) -> PromiseOut:
    """Keep a promise with its evidence: one of ``message_id``, ``task_id`` or ``contact`` (422 otherwise)."""
    with app.sessions() as s:
        p = s.get(Promise, promise_id)
    if p is None:
        raise NotFound("promise", promise_id)
    _scope(app, who, p.complaint_id)
    return PromiseOut.model_validate(keep_promise(app.sessions, promise_id, actor=who.actor, at=app.clock.now(),
                                                  message_id=body.message_id, task_id=body.task_id,
                                                  contact=body.contact, channel=body.channel.value))


# --- the customer's history (issue 14) -----------------------------------------------------------------

class PromiseCounts(BaseModel):
    made: int
    kept: int
    broken: int
    open: int


class CustomerOut(BaseModel):
    ref: str
    display_name: str | None = Field(description="personal data (None when not given or erased)")
    language: str | None
    time_zone: str | None
    erased: bool = Field(description="the personal data was erased on request")
    complaint_count: int = Field(description="all the customer's complaints, in any department")
    first_complaint_at: UtcDatetime | None
    last_complaint_at: UtcDatetime | None
    complaints: list[CustomerComplaint] = Field(description="those the caller may see, newest first")
    promises: list[CustomerPromise] = Field(description="on those complaints, oldest first")
    promise_counts: PromiseCounts
    compensation: list[CustomerCompensation] = Field(description="on those complaints (amounts exact decimals)")
    verdicts: list[CustomerVerdict] = Field(description="follow-up answers (satisfaction history), oldest first")


@router.get("/customers/{ref:path}", response_model=CustomerOut)
def customer(ref: str = Path(min_length=1, max_length=128, description="the customer ref (pseudonymous key)"),
             who: Principal = Depends(require(*WORK_ROLES)), app: App = Depends(get_app)) -> CustomerOut:
    """A customer's complaints (status, severity, received, due, category), the promises made to them
    (made / kept / broken / open), compensation and its status, and their follow-up verdicts. Members and
    leads see what their department's tasks touch: 403 when that is none of the customer's complaints.
    A ref may contain ``/`` (sent as is or as ``%2F``); ``GET /customers?ref=`` answers the same."""
    return _customer(ref, who, app)


@router.get("/customers", response_model=CustomerOut)
def customer_by_query(ref: str = Query(min_length=1, max_length=128, description="the customer ref"),
                      who: Principal = Depends(require(*WORK_ROLES)), app: App = Depends(get_app)) -> CustomerOut:
    """``GET /customers/{ref}`` with the ref in the query: the address of a ref no path can carry (``..``:
    clients drop that segment, even as ``%2e%2e``), stored before intake refused such refs."""
    return _customer(ref, who, app)


def _customer(ref: str, who: Principal, app: App) -> CustomerOut:
    v = customer_view(app.sessions, ref, scope=None if who.role == MANAGER else who.department)
    if not v.visible:
        raise ApiError(403, f"customer {ref!r} has no complaint with a task in department {who.department!r}")
    return CustomerOut(
        ref=v.ref, display_name=v.display_name, language=v.language, time_zone=v.time_zone, erased=v.erased,
        complaint_count=v.complaint_count, first_complaint_at=v.first_complaint_at,
        last_complaint_at=v.last_complaint_at,
        complaints=v.complaints, promises=v.promises, promise_counts=PromiseCounts(**v.promise_counts),
        compensation=v.compensation, verdicts=v.verdicts)
