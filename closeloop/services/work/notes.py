"""Internal notes with @mentions (issue 14 §4).

:func:`add_note` stores the note (a ``message`` with direction ``internal``, on the surviving complaint of a
merge) and, for every ``@handle`` in it, one ``mention`` row and one notification (kind ``mention``, key
``mention:<message>:<user>``: once per note and user) to that user's target in their language, released in
their working hours and packed into the outbox by the sweep like every other notice. All in one transaction:
an unknown handle is ``InvalidInput`` naming ``body`` and nothing is written.

A handle is matched as ``@`` not preceded by a letter, digit, ``.`` or ``_`` (so ``ann@example.com`` is
no mention), then the longest handle (``[a-z0-9._-]``, ending on a letter or digit), case-insensitive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from closeloop.config import Config
from closeloop.domain.customer import MessageDirection
from closeloop.domain.errors import InvalidInput
from closeloop.domain.notices import NoticeKind, Role
from closeloop.services.engine.notify import insert_notifications, make_item
from closeloop.services.people.users import user_recipient, users_by_handle
from closeloop.services.uow import unit_of_work
from closeloop.services.work.messages import record_message
from models.tables import Mention, Message

MAX_NOTE = 5000
EXCERPT_CHARS = 200
MENTION = re.compile(r"(?<![\w.@])@([A-Za-z0-9](?:[A-Za-z0-9._-]{0,62}[A-Za-z0-9])?)")


@dataclass(frozen=True)
class NoteResult:
    message_id: int
    complaint_id: int
    at: datetime
    author: str
    mentions: list[str]


def mentioned_handles(body: str) -> list[str]:
    """The handles ``@mentioned`` in ``body``, lower-case, in order of first appearance, each once."""
    return list(dict.fromkeys(m.lower() for m in MENTION.findall(body)))


def _excerpt(body: str) -> str:
    text = " ".join(body.split())
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS - 1] + "…"


def check_body(body: str | None) -> None:
    """``InvalidInput`` naming ``body`` when a note's text is empty or over :data:`MAX_NOTE` characters."""
    if not body or not body.strip():
        raise InvalidInput("body", "a note needs text")
    if len(body) > MAX_NOTE:
        raise InvalidInput("body", f"longer than {MAX_NOTE} characters")


def add_note(sessions, config: Config, complaint_id: int, body: str, *, author: str, at: datetime,
             channel: str = "api") -> NoteResult:
    """Add an internal note; notify the users it mentions. Returns the message id, the complaint it landed
    on and the handles mentioned. Raises ``InvalidInput`` (``body``: empty, over :data:`MAX_NOTE` characters,
    or naming an unknown ``@handle``), ``NotFound`` for an unknown complaint."""
    check_body(body)
    with unit_of_work(sessions) as s:
        return note_in_session(s, config, complaint_id, body, author=author, at=at, channel=channel)


def note_in_session(s, config: Config, complaint_id: int, body: str, *, author: str, at: datetime,
                    channel: str = "api") -> NoteResult:
    """:func:`add_note` inside the caller's transaction (the body's length checked by the caller; no commit)."""
    handles = mentioned_handles(body)
    users = users_by_handle(s, set(handles))
    unknown = [h for h in handles if h not in users]
    if unknown:
        raise InvalidInput("body", f"@{unknown[0]}: no user has this handle")
    msg = record_message(s, complaint_id, config=config, direction=MessageDirection.INTERNAL, body=body,
                         author=author[:200], at=at, channel=channel)
    s.flush()
    items = []
    for h in handles:
        user = users[h]
        s.add(Mention(message_id=msg.id, user_id=user.id, complaint_id=msg.complaint_id, author=author[:200],
                      at=at))
        who = user_recipient(config, user, Role.MENTIONED, None)
        items.append(make_item(config, key=f"{NoticeKind.MENTION}:{msg.id}:{user.id}", kind=NoticeKind.MENTION,
                               level=0, who=who, complaint_id=msg.complaint_id, task=None,
                               department=user.departments[0] if user.departments else None, now=at,
                               params={"author": author, "complaint": msg.complaint_id,
                                       "excerpt": _excerpt(body)}))
    insert_notifications(s, items)
    return NoteResult(msg.id, msg.complaint_id, at, msg.author, handles)


@dataclass(frozen=True)
class MentionView:
    message_id: int
    complaint_id: int
    author: str
    at: datetime
    excerpt: str


def my_mentions(sessions, user_id: int, *, limit: int = 50, offset: int = 0) -> list[MentionView]:
    """The notes mentioning the user, newest first."""
    with sessions() as s:
        rows = s.execute(select(Mention.message_id, Mention.complaint_id, Mention.author, Mention.at, Message.body)
                         .join(Message, Message.id == Mention.message_id).where(Mention.user_id == user_id)
                         .order_by(Mention.at.desc(), Mention.id.desc()).limit(limit).offset(offset)).all()
    return [MentionView(r.message_id, r.complaint_id, r.author, r.at, _excerpt(r.body)) for r in rows]
