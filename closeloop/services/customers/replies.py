"""An agent's reply to the customer (API ``POST /complaints/{id}/replies``, CLI ``complaints reply --outbound``).

The reply is rendered in the customer's language around the agent's text (greeting, the complaint
number to keep in a reply, signature), sent through the outbox and recorded on the complaint as an
outbound message by the agent. A reply never changes a status (CASES.md C19).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.domain.errors import InvalidInput
from closeloop.services.customers.notices import NoticeKind, addressees, draft_for, send
from closeloop.services.uow import unit_of_work
from closeloop.services.work.complaints import root_of
from models.tables import Outbox

#: Longest reply text accepted (characters).
MAX_REPLY = 20_000


#: Without an idempotency key, the same text on the same complaint within this window is a double submit
#: (a second click, a form sent again): it sends nothing. After it, the same text is a new reply.
DOUBLE_SUBMIT_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class Reply:
    """``outbox_id``: the reply's outbox row, also when this request repeated one (``created`` False: nothing new
    was queued; the API answers 200 instead of 201)."""

    complaint_id: int
    key: str
    outbox_id: int
    created: bool


def _normalized(text: str) -> str:
    """``text`` without leading and trailing blank space, ``\n`` line ends, no spaces at the ends of lines."""
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def send_reply(sessions, config: Config, complaint_id: int, text: str, *, actor: str, at: datetime,
               idempotency_key: str | None = None) -> Reply:
    """Queue the agent's ``text`` to the customer of ``complaint_id`` (a merged complaint's survivor).

    The text is compared and sent without its leading and trailing blank space, with ``\n`` line ends and no
    spaces at the ends of lines (a form's CRLF or a trailing newline is the same text). Repeats:

    - with ``idempotency_key``: the outbox key is ``customer:reply:<complaint>:<idempotency_key>``; the same key
      with the same text again returns the first reply (``created`` False); the same key with another text is
      ``InvalidInput`` naming ``idempotency_key`` (a key names one request; nothing is sent);
    - without one: the same text on the complaint within :data:`DOUBLE_SUBMIT_WINDOW` of an earlier reply (keyed
      or not) returns that reply; after it, the same text is sent again (a deliberate second reply).

    Raises ``InvalidInput`` (``text``: empty, too long, NUL; ``idempotency_key``: not 1 to 100 characters, or
    used for another text; ``customer``: nobody to send to) and ``NotFound``; nothing is written on an error.
    """
    if not text or not text.strip():
        raise InvalidInput("text", "a reply needs text")
    if len(text) > MAX_REPLY or "\x00" in text:
        raise InvalidInput("text", f"longer than {MAX_REPLY} characters or contains a NUL character")
    if idempotency_key is not None and not (0 < len(idempotency_key) <= 100):
        raise InvalidInput("idempotency_key", "must be 1 to 100 characters")
    text = _normalized(text)  # what is sent, and what a double submit is recognised by
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    with unit_of_work(sessions) as s:
        root = root_of(s, complaint_id)
        who = addressees(s, config, [root.id]).get(root.id)
        if who is None:
            raise InvalidInput("customer", f"complaint {root.id} has no customer with a consented contact point "
                                           "that closeloop can send to")
        if idempotency_key is None:
            earlier = _recent_same_text(s, root.id, digest, at)
            if earlier is not None:
                return Reply(root.id, earlier[0], earlier[1], created=False)
            window = int(DOUBLE_SUBMIT_WINDOW.total_seconds())
            suffix = f"text-{digest[:24]}-{int(at.timestamp()) // window}"  # two racing double submits: one key
        else:
            suffix = idempotency_key
        key = f"customer:reply:{root.id}:{suffix}"
        draft = draft_for(who, key, root.id, NoticeKind.REPLY, auto=False, author=actor, text=text)
        ids = send(s, [replace(draft, fingerprint=digest)], at)
        if ids:
            return Reply(root.id, key, ids[0], created=True)
        return Reply(root.id, key, _existing(s, key, digest, idempotency_key), created=False)


def _recent_same_text(s: Session, complaint_id: int, digest: str, at: datetime) -> tuple[str, int] | None:
    """The newest reply (key, outbox id) on ``complaint_id`` with text SHA-256 ``digest`` queued within
    :data:`DOUBLE_SUBMIT_WINDOW` before ``at``, else None."""
    rows = s.execute(select(Outbox.idempotency_key, Outbox.id, Outbox.payload)
                     .where(Outbox.idempotency_key.startswith(f"customer:reply:{complaint_id}:", autoescape=True),
                            Outbox.created_at > at - DOUBLE_SUBMIT_WINDOW, Outbox.created_at <= at)
                     .order_by(Outbox.id.desc())).all()
    return next(((k, i) for k, i, p in rows if (p or {}).get("request_sha256") == digest), None)


def _existing(s: Session, key: str, digest: str, idempotency_key: str | None) -> int:
    """The outbox id of the reply already queued under ``key``; ``InvalidInput`` naming ``idempotency_key`` when
    it was queued for another text (a row from before ``request_sha256`` was kept is taken as the same)."""
    row_id, payload = s.execute(select(Outbox.id, Outbox.payload).where(Outbox.idempotency_key == key)).one()
    known = (payload or {}).get("request_sha256")
    if known is not None and known != digest:
        raise InvalidInput("idempotency_key" if idempotency_key is not None else "text",
                           f"{idempotency_key!r} was used for another reply (outbox {row_id}) with a different "
                           "text; a key names one request: send a new reply with a new key")
    return row_id
