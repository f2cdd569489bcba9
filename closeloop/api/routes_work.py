"""Work on a complaint beside its triggers (issue 14 §7, §9): internal notes, priority, waiting on the customer.

The same services, rules and roles as the CLI and the dashboard's complaint page (``closeloop.web.pages_work``
reads :data:`ACTION_ROLES`):

- ``POST /complaints/{id}/notes``: an internal note (member, lead, manager); ``@handle`` mentions a user, who is
  told through the outbox (an unknown handle is a 422 naming ``body``);
- ``POST /complaints/{id}/priority``: change the severity with a reason (lead, manager);
- ``POST /complaints/{id}/wait``: wait on the customer with a reason and an optional end (member, lead, manager).

A member or lead acts only on a complaint their department's tasks touch (403). Priority and wait carry the
version read (body ``version`` or ``If-Match``; optional, without one the write is not checked): a stale one is a
409, as on ``.../transitions``. Replies to the customer are ``POST .../replies``, merges ``POST .../transitions``
(``merge``), links to an improvement record ``POST /improvements/{id}/complaints``, promises ``POST .../promises``
and ``POST /promises/{id}/keep``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, Field, StrictInt

from closeloop.bootstrap import App
from closeloop.http.access import ACTION_ROLES
from closeloop.services.reads.complaint_queries import get_complaint
from closeloop.services.work import lifecycle
from closeloop.services.work.notes import MAX_NOTE, add_note

from .auth import Principal, get_app, require
from .deps import MAX_ID, Id, version_of
from .routes_complaints import ensure_visible
from .schemas import ComplaintOut, In, Instant, UtcDatetime, Version
from .schemas_transitions import Reason

router = APIRouter(tags=["complaints"])

_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "stale version, or a trigger the current state does not allow (named)"}}


class NoteIn(In):
    body: str = Field(min_length=1, max_length=MAX_NOTE, pattern=r"\S",
                      description="the note; `@handle` mentions a user (who is notified)")


class NoteOut(BaseModel):
    id: int = Field(description="the message id")
    complaint_id: int = Field(description="where it was recorded (a merged complaint's survivor)")
    at: UtcDatetime
    author: str
    mentions: list[str] = Field(description="the handles of the users mentioned (each told once)")


class PriorityIn(Version):
    severity: str = Field(pattern="^P[1-4]$", description="P1 (most severe) .. P4")
    reason: Reason


class WaitIn(Version):
    reason: Reason
    until: Instant | None = Field(None, description="the latest end of the wait (UTC-aware); past it the sweep "
                                                    "closes or escalates per [follow_up]. With "
                                                    "`max_business_hours` too, the earlier of the two applies")
    max_business_hours: float | None = Field(None, gt=0, le=10_000,
                                             description="and/or: the longest wait in business hours (customer "
                                                         "calendar); with `until` too, the earlier applies")
    continuing: list[Annotated[StrictInt, Field(ge=1, le=MAX_ID)]] = Field(default_factory=list, max_length=100,
                                        description="ids of active tasks that go on during the wait")


@router.post("/complaints/{complaint_id}/notes", status_code=201, response_model=NoteOut)
def note(complaint_id: Id, body: NoteIn, who: Principal = Depends(require(*ACTION_ROLES["note"])),
         app: App = Depends(get_app)) -> NoteOut:
    """Add an internal note (direction ``internal``; never sent to the customer). Each ``@handle`` in it
    notifies that user once through the outbox, in their language and working hours; 422 (``body``) naming
    a handle that is no user."""
    ensure_visible(app, who, complaint_id)
    n = add_note(app.sessions, app.config, complaint_id, body.body, author=who.actor, at=app.clock.now())
    return NoteOut(id=n.message_id, complaint_id=n.complaint_id, at=n.at, author=n.author, mentions=n.mentions)


@router.post("/complaints/{complaint_id}/priority", response_model=ComplaintOut, responses=_CONFLICT)
def reprioritize(complaint_id: Id, body: PriorityIn, if_match: str | None = Header(None, max_length=40),
                 who: Principal = Depends(require(*ACTION_ROLES["reprioritize"])),
                 app: App = Depends(get_app)) -> ComplaintOut:
    """Change the severity (a reason is required); every clock is recomputed with the new targets. 422
    (``severity``) when it is already that severity; 403 for a lead whose department owns none of the work now
    (its task was transferred away or cancelled; the message names the departments the work belongs to now),
    judged before the version (a garbled ``If-Match``, a stale one) is looked at."""
    ensure_visible(app, who, complaint_id)
    lifecycle.check_priority_owner(app.sessions, complaint_id, who.lead_of)
    lifecycle.reprioritize(app.sessions, complaint_id, body.severity, config=app.config, reason=body.reason,
                           actor=who.actor, at=app.clock.now(), expected_version=version_of(body.version, if_match),
                           lead_of=who.lead_of)
    return ComplaintOut.model_validate(get_complaint(app.sessions, complaint_id))


@router.post("/complaints/{complaint_id}/wait", response_model=ComplaintOut, responses=_CONFLICT)
def wait(complaint_id: Id, body: WaitIn, if_match: str | None = Header(None, max_length=40),
         who: Principal = Depends(require(*ACTION_ROLES["wait"])), app: App = Depends(get_app)) -> ComplaintOut:
    """Wait on the customer: the resolution clock and the waiting tasks pause (not ``continuing``); the
    customer's next message resumes them; the wait ends at ``until`` or after ``max_business_hours``,
    the earlier when both are given (the sweep's timer and the customer's notice alike). 422 naming ``until``
    (not after now), ``continuing`` (not an active task of the complaint)."""
    ensure_visible(app, who, complaint_id)
    lifecycle.await_customer(app.sessions, complaint_id, config=app.config, reason=body.reason, until=body.until,
                             max_business_hours=body.max_business_hours, continuing=body.continuing,
                             actor=who.actor, at=app.clock.now(), expected_version=version_of(body.version, if_match))
    return ComplaintOut.model_validate(get_complaint(app.sessions, complaint_id))
