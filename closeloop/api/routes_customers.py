"""Speaking to the customer (issue 13): ``POST /complaints/{id}/replies``.

Access: members and leads reply on complaints their department's tasks touch; managers on any.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from closeloop.bootstrap import App
from closeloop.services.complaint_queries import complaint_in_scope
from closeloop.services.customers.replies import MAX_REPLY, send_reply

from .auth import MANAGER, WORK_ROLES, Principal, get_app, require
from .deps import Id
from .errors import ApiError
from .schemas import In

router = APIRouter(tags=["customers"])


class ReplyIn(In):
    text: str = Field(min_length=1, max_length=MAX_REPLY, description="the agent's words; greeting, complaint "
                                                                       "number and signature are added in the "
                                                                       "customer's language")
    idempotency_key: str | None = Field(None, min_length=1, max_length=100,
                                        description="the same key again sends nothing (default: the text's hash)")


class ReplyOut(BaseModel):
    complaint_id: int = Field(description="where it was recorded (a merged complaint's survivor)")
    key: str = Field(description="the outbox idempotency key")
    outbox_id: int | None = Field(description="None when a reply with this key was already sent (HTTP 200)")
    queued: bool


@router.post("/complaints/{complaint_id}/replies", status_code=201, response_model=ReplyOut,
             responses={200: {"model": ReplyOut, "description": "already sent: the same key"}})
def reply(complaint_id: Id, body: ReplyIn, response: Response, who: Principal = Depends(require(*WORK_ROLES)),
          app: App = Depends(get_app)) -> ReplyOut:
    """Send the agent's reply to the customer through the outbox (the customer's language and consented
    channel); it shows on the complaint's timeline. 422 (``customer``) when nobody can be reached."""
    scope = None if who.role == MANAGER else who.department
    if not complaint_in_scope(app.sessions, complaint_id, scope):
        raise ApiError(403, f"complaint {complaint_id} has no task in department {who.department!r}")
    r = send_reply(app.sessions, app.config, complaint_id, body.text, actor=who.actor, at=app.clock.now(),
                   idempotency_key=body.idempotency_key)
    response.status_code = 201 if r.outbox_id is not None else 200
    return ReplyOut(complaint_id=r.complaint_id, key=r.key, outbox_id=r.outbox_id, queued=r.outbox_id is not None)
