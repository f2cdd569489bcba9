"""``/outbox``: messages leaving the process and their dead letters; a manager re-sends dead letters.

See :mod:`closeloop.services.engine.delivery` for the statuses, the retry schedule and the dead-letter rule.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from closeloop.bootstrap import App
from closeloop.domain.errors import IllegalTransition
from closeloop.domain.outbox import DeadReason, OutboxStatus
from closeloop.services.engine.delivery import requeue
from closeloop.services.reads import outbox as outbox_reads

from .auth import MANAGER, Principal, get_app, require
from .deps import Id
from .errors import ErrorResponse
from .schemas import Page, UtcDatetime

router = APIRouter(tags=["outbox"])


class OutboxOut(BaseModel):
    model_config = {"from_attributes": True}

    id: int
    idempotency_key: str = Field(description="sent with every attempt as `Idempotency-Key`; kept on a re-send")
    channel: str
    recipient: str
    subject: str
    status: OutboxStatus
    dead_reason: DeadReason | None = Field(None, description="why a dead letter is dead")
    attempts: int = Field(description="sends whose outcome was recorded, including those before a manual "
                                      "retry (a crashed worker's claim is none)")
    requeues: int = Field(description="manual re-sends of this message")
    claims: int = Field(0, description="times a delivery worker took the message; more than `attempts` (since the "
                                       "last re-send): a worker stopped after it may have sent it (its lease ran "
                                       "out; another worker sent it again with the same key)")
    next_attempt_at: UtcDatetime
    dead_at: UtcDatetime | None = None
    delivered_at: UtcDatetime | None = None
    last_error: str | None = Field(None, description="why the latest attempt failed (or that a worker's lease ran "
                                                     "out); null once delivered: the failures before show in "
                                                     "`attempts` and `claims`")


@router.get("/outbox", response_model=Page[OutboxOut])
def list_outbox(status: OutboxStatus | None = Query(None, description="e.g. `dead` for the dead letters"),
                limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10_000_000),
                who: Principal = Depends(require(MANAGER)), app: App = Depends(get_app)) -> Page[OutboxOut]:
    """Outgoing messages, newest first. Managers only."""
    rows, total = outbox_reads.list_outbox(app.sessions, status=status, limit=limit, offset=offset)
    items = [OutboxOut.model_validate(o) for o in rows]
    return Page[OutboxOut](items=items, total=total, limit=limit, offset=offset)


@router.post("/outbox/{outbox_id}/retry", response_model=OutboxOut,
             responses={404: {"model": ErrorResponse, "description": "no such message"},
                        409: {"model": ErrorResponse, "description": "the message is not a dead letter"}})
def retry(outbox_id: Id, who: Principal = Depends(require(MANAGER)), app: App = Depends(get_app)) -> OutboxOut:
    """Re-send a dead letter with its own idempotency key: due at once, a fresh attempt budget
    (audited with the caller). Managers only."""
    done = requeue(app.sessions, now=app.clock.now(), actor=who.actor, ids=[outbox_id])
    row = outbox_reads.get_outbox(app.sessions, outbox_id)
    if not done:
        raise IllegalTransition("outbox message", row.status, "retry", [])
    return OutboxOut.model_validate(row)
