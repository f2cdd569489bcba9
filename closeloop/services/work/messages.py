"""Messages on a complaint: the customer's (inbound), ours (outbound) and internal notes.

An inbound message addressed to a merged complaint lands on the surviving
root (CASES.md K5), keeping the address it was sent to in
``original_complaint_id``. Inbound messages count the same on every channel
(CASES.md K4, C12):

- on a complaint waiting for the customer, it moves back to ``in_progress``
  (``customer_replied``) and the resolution clock runs again;
- on a resolved or closed complaint, it reopens it (a new task; time spent
  resolved counts as paused).

Outbound messages (ours, including follow-ups) never change a status (C19).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.domain.complaint import ComplaintStatus, ComplaintTrigger
from closeloop.domain.customer import MessageDirection
from closeloop.domain.errors import InvalidInput
from closeloop.domain.reasons import SystemReason, system_reason
from closeloop.services.engine.clocks import refresh_due
from closeloop.services.transitions import apply
from closeloop.services.uow import unit_of_work
from closeloop.services.work.complaints import root_of
from closeloop.services.work.lifecycle import reopen_in_session
from closeloop.services.work.waits import resume_after_wait
from models.tables import Message

DIRECTIONS = ("inbound", "outbound", "internal")


def add_message(sessions, complaint_id: int, *, config: Config, direction: str, body: str, author: str,
                at: datetime, channel: str = "") -> Message:
    """Store a message; returns it (its ``complaint_id`` is the root it landed on).

    Raises ``InvalidInput`` for an unknown direction or an empty body, ``NotFound`` for an unknown complaint.
    """
    if direction not in DIRECTIONS:
        raise InvalidInput("direction", f"must be one of {', '.join(DIRECTIONS)}")
    if not body or not body.strip():
        raise InvalidInput("body", "a message needs text")
    if len(channel) > 64:
        raise InvalidInput("channel", "longer than 64 characters")
    if len(author) > 200:
        raise InvalidInput("author", "longer than 200 characters")
    with unit_of_work(sessions) as s:
        return record_message(s, complaint_id, config=config, direction=direction, body=body, author=author,
                              at=at, channel=channel)


def record_message(s: Session, complaint_id: int, *, config: Config, direction: str, body: str, author: str,
                   at: datetime, channel: str = "") -> Message:
    """:func:`add_message` inside the caller's transaction (no checks of the arguments, no commit)."""
    root = root_of(s, complaint_id)
    msg = Message(complaint_id=root.id, original_complaint_id=complaint_id, direction=direction,
                  channel=channel, author=author, body=body.replace("\x00", ""), at=at)
    s.add(msg)
    via = (system_reason(SystemReason.CUSTOMER_MESSAGE, channel=channel) if channel
           else system_reason(SystemReason.CUSTOMER_MESSAGE_NO_CHANNEL))
    if direction == MessageDirection.INBOUND and root.status == ComplaintStatus.AWAITING_CUSTOMER:
        apply(s, root, ComplaintTrigger.CUSTOMER_REPLIED, at=at, actor=author, reason=via)
        resume_after_wait(s, root, actor=author, at=at)  # K11: the answer resumes the tasks the wait paused
    elif direction == MessageDirection.INBOUND and root.status in (ComplaintStatus.RESOLVED, ComplaintStatus.CLOSED):
        reopen_in_session(s, root, config=config, reason=via, actor=author, at=at)
    refresh_due(s, root.id, config, at)
    return msg
