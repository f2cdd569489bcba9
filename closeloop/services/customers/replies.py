"""An agent's reply to the customer (API ``POST /complaints/{id}/replies``, CLI ``complaints reply --outbound``).

The reply is rendered in the customer's language around the agent's text (greeting, the complaint
number to keep in a reply, signature), sent through the outbox and recorded on the complaint as an
outbound message by the agent. A reply never changes a status (CASES.md C19).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from closeloop.config import Config
from closeloop.domain.errors import InvalidInput
from closeloop.services.customers.notices import NoticeKind, addressees, draft_for, send
from closeloop.services.uow import unit_of_work
from closeloop.services.work.complaints import root_of

#: Longest reply text accepted (characters).
MAX_REPLY = 20_000


@dataclass(frozen=True)
class Reply:
    """``outbox_id`` None: a reply with this key was sent already (nothing new was queued)."""

    complaint_id: int
    key: str
    outbox_id: int | None


def _normalized(text: str) -> str:
    """``text`` without leading and trailing blank space, ``\n`` line ends, no spaces at the ends of lines."""
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def send_reply(sessions, config: Config, complaint_id: int, text: str, *, actor: str, at: datetime,
               idempotency_key: str | None = None) -> Reply:
    """Queue the agent's ``text`` to the customer of ``complaint_id`` (a merged complaint's survivor).

    The outbox key is ``customer:reply:<complaint>:<idempotency_key>``, or the text's SHA-256 without one
    (the same text twice is one message: a double submit; the text is compared and sent without its leading and
    trailing blank space, with ``\n`` line ends and no spaces at the ends of lines, so a form's CRLF or a
    trailing newline makes no second message). Raises ``InvalidInput`` (``text``: empty, too
    long, NUL; ``customer``: nobody to send to) and ``NotFound``; nothing is written on an error.
    """
    if not text or not text.strip():
        raise InvalidInput("text", "a reply needs text")
    if len(text) > MAX_REPLY or "\x00" in text:
        raise InvalidInput("text", f"longer than {MAX_REPLY} characters or contains a NUL character")
    if idempotency_key is not None and not (0 < len(idempotency_key) <= 100):
        raise InvalidInput("idempotency_key", "must be 1 to 100 characters")
    text = _normalized(text)  # what is sent, and what a double submit is recognised by
    suffix = idempotency_key or hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]
    with unit_of_work(sessions) as s:
        root = root_of(s, complaint_id)
        who = addressees(s, config, [root.id]).get(root.id)
        if who is None:
            raise InvalidInput("customer", f"complaint {root.id} has no customer with a consented contact point "
                                           "that closeloop can send to")
        key = f"customer:reply:{root.id}:{suffix}"
        draft = draft_for(who, key, root.id, NoticeKind.REPLY, auto=False, author=actor, text=text)
        ids = send(s, [draft], at)
        return Reply(root.id, key, ids[0] if ids else None)
