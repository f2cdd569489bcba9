"""Messages to the customer: rendered in their language, sent through the outbox, recorded on the complaint.

Every message to the customer is one outbox row (idempotency key ``customer:<kind>:<complaint>[:<n>]``:
a sweep or a delivery that runs twice sends it once) and one outbound :class:`Message` linked to it
(``outbox_id``), so the complaint's timeline shows it and the first-response clock stops when the row
is delivered (``History.first_contact`` in :mod:`closeloop.services.engine.ledger`).

Templates are Jinja2 files ``closeloop/templates/customer_<kind>.<lang>.j2``: the first line is the
subject, then a line ``---``, then the plain-text body. The HTML part is the text, HTML-escaped, with
its line breaks kept (``<br>``), so a customer-supplied value never becomes markup. Outbox rows carry
the address in ``target`` and only ``customer <id>`` as ``recipient``; the payload carries ids, never
names (it is what logs and artifacts may show).
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, StrictUndefined
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from closeloop.config import Config
from closeloop.config.customers import Milestone
from closeloop.domain.complaint import ComplaintStatus
from closeloop.domain.customer import ContactKind, ContactPoint, MessageDirection
from closeloop.domain.inbound_mail import OPENING_MAIL_ID
from closeloop.services.bulk import insert_new
from closeloop.services.customers.profiles import reachable
from closeloop.services.markdown import md_message
from models.tables import Complaint, Customer, ImprovementLink, Message, Outbox


class NoticeKind(StrEnum):
    """What a message to the customer is (one template per kind and language)."""

    ACKNOWLEDGED = "acknowledged"
    REPLY = "reply"
    TRANSFERRED = "transferred"
    WAITING = "waiting"
    RESOLVED = "resolved"
    #: closed because a wait on the customer ran out (told with the ``waiting`` milestone that announced it)
    CLOSED = "closed"
    REOPENED = "reopened"
    FOLLOW_UP = "follow_up"
    #: an improvement record (CAPA) linked to the complaint was verified effective
    IMPROVED = "improved"


#: Channel names of the outbox per contact kind (phone and chat go through Apprise URL templates).
EMAIL_CHANNEL = "email"
AUTHOR = "closeloop"


def complaint_number(complaint_id: int) -> str:
    """The number the customer sees and keeps in a reply's subject: ``CL-<id>``."""
    return f"CL-{complaint_id}"


def message_id(key: str, domain: str = "closeloop.invalid") -> str:
    """A stable RFC 5322 Message-ID for an outbox key (the same on every delivery attempt)."""
    return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@{domain}>"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=64)
def _template(kind: str, language: str):
    env = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    src = resources.files("closeloop.templates").joinpath(f"customer_{kind}.{language}.j2").read_text("utf-8")
    return env.from_string(src)


def render(kind: NoticeKind, language: str, **context) -> Rendered:
    """Subject, text and HTML of one message. Raises ``FileNotFoundError`` for a kind/language without a
    template and ``jinja2.UndefinedError`` for a missing placeholder."""
    out = _template(str(kind), language).render(**context)
    subject, sep, body = out.partition("\n---\n")
    if not sep:
        raise ValueError(f"template customer_{kind}.{language}.j2 has no '---' line after the subject")
    text = body.strip() + "\n"
    return Rendered(" ".join(subject.split()), text, to_html(text, language))


_URL = re.compile(r"https?://[^\s<>\"']+")


def _line(line: str) -> str:
    """One line escaped; a web address on it becomes a link (its text and target escaped as well)."""
    out, pos = [], 0
    for m in _URL.finditer(line):
        url = html.escape(m.group(0))
        out += [html.escape(line[pos:m.start()]), f'<a href="{url}">{url}</a>']
        pos = m.end()
    return "".join(out) + html.escape(line[pos:])


def to_html(text: str, language: str) -> str:
    """The plain text as an HTML document: every character escaped, paragraphs and line breaks kept,
    web addresses made links."""
    paras = [p for p in text.strip().split("\n\n")]
    body = "\n".join("<p>" + "<br>\n".join(_line(line) for line in p.split("\n")) + "</p>" for p in paras)
    return (f'<!DOCTYPE html>\n<html lang="{html.escape(language)}"><head><meta charset="utf-8"></head>'
            f"<body>\n{body}\n</body></html>\n")


def local_time(at: datetime, zone: ZoneInfo, language: str) -> str:
    """``at`` in the customer's zone, written for ``language``: zh ``2026年3月5日 17:00（协调世界时+08:00）``,
    otherwise ``Thursday 5 March 2026, 17:00 (UTC+08:00)``."""
    local = at.astimezone(zone)
    off = local.strftime("%z")
    offset = f"{off[:3]}:{off[3:]}"
    if language == "zh":  # 协调世界时 = UTC in Chinese: no Latin letters in a Chinese message
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}（协调世界时{offset}）"
    return f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M} (UTC{offset})"


def route(config: Config, point: ContactPoint) -> tuple[str, str] | None:
    """The outbox (channel, target) for a contact point, or None where no channel is configured."""
    c = config.model.customers
    if point.kind is ContactKind.EMAIL:
        return EMAIL_CHANNEL, point.value
    if point.kind is ContactKind.PHONE and c.sms_notify:
        return "apprise", c.sms_notify.replace("{phone}", point.value.replace(" ", ""))
    if point.kind is ContactKind.CHAT and c.chat_notify:
        return "apprise", c.chat_notify.replace("{handle}", point.value)
    return None


@dataclass(frozen=True)
class Draft:
    """One message to one customer about one complaint, ready for the outbox."""

    key: str
    complaint_id: int
    customer_id: int
    kind: NoticeKind
    language: str
    channel: str
    target: str
    rendered: Rendered
    auto: bool = True
    author: str = AUTHOR
    #: what the request that made it is recognised by (a reply: its text's SHA-256), kept in the payload as
    #: ``request_sha256`` so that its idempotency key reused for another request is told apart
    fingerprint: str | None = None


@dataclass(frozen=True)
class Addressee:
    """Who a message goes to: the customer's id, name, served language, zone, and where."""

    customer_id: int
    name: str | None
    language: str
    zone: ZoneInfo
    channel: str
    target: str


def addressees(session: Session, config: Config, complaint_ids: list[int]) -> dict[int, Addressee]:
    """Complaint id -> its customer as an addressee (complaints whose customer cannot be reached are left out)."""
    rows: list[Any] = []
    for i in range(0, len(complaint_ids), 400):
        rows += session.execute(select(Complaint.id, Customer.id, Customer.display_name, Customer.language,
                                       Customer.time_zone).join(Customer, Customer.id == Complaint.customer_id)
                                .where(Complaint.id.in_(complaint_ids[i:i + 400]))).all()
    points = reachable(session, sorted({r[1] for r in rows}))
    out = {}
    for cid, cust, name, lang, tz in rows:
        where = route(config, points[cust]) if cust in points else None
        if where is None:
            continue
        zone = ZoneInfo(tz) if tz else config.customer_calendar.zone
        out[cid] = Addressee(cust, name, config.model.customers.language_for(lang), zone, *where)
    return out


def send(session: Session, drafts: list[Draft], now: datetime) -> list[int]:
    """Put ``drafts`` in the outbox and on their complaints' timelines (no commit); a draft whose key exists
    already is skipped (sent once). Returns the new outbox ids. A fixed number of statements."""
    if not drafts:
        return []
    ot = Outbox.__table__
    threads = thread_ids(session, sorted({d.complaint_id for d in drafts}))
    rows = [{"idempotency_key": d.key, "channel": d.channel, "target": d.target,
             "recipient": f"customer {d.customer_id}", "subject": d.rendered.subject, "body": _outbox_body(d),
             "payload": _payload(d, threads.get(d.complaint_id, ())),
             "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now} for d in drafts]
    new_keys = set(insert_new(session, ot, rows, key=["idempotency_key"], returning=ot.c.idempotency_key))
    if not new_keys:
        return []
    ids = dict(session.execute(select(Outbox.idempotency_key, Outbox.id)
                               .where(Outbox.idempotency_key.in_(sorted(new_keys)))).all())
    msgs = [{"complaint_id": d.complaint_id, "original_complaint_id": d.complaint_id, "direction": "outbound",
             "channel": d.channel, "author": d.author[:200], "body": d.rendered.text, "at": now,
             "outbox_id": ids[d.key], "mail_id": message_id(d.key) if d.channel == EMAIL_CHANNEL else None}
            for d in drafts if d.key in ids]
    session.execute(insert(Message.__table__), msgs)
    return sorted(ids.values())


def _outbox_body(d: Draft) -> str:
    """The body as its channel takes it: e-mail the plain text (its HTML part is in the payload); chat and
    SMS (Apprise, sent as Markdown) the text escaped for Markdown with its line breaks kept, so a
    customer-supplied value never becomes markup there either."""
    return d.rendered.text if d.channel == EMAIL_CHANNEL else md_message(d.rendered.text)


def _payload(d: Draft, thread: tuple[str, ...]) -> dict:
    own = message_id(d.key)
    payload = {"kind": str(d.kind), "complaint_id": d.complaint_id, "customer_id": d.customer_id,
               "language": d.language, "html": d.rendered.html, "message_id": own,
               "auto_submitted": "auto-generated" if d.auto else "no"}
    if d.fingerprint:
        payload["request_sha256"] = d.fingerprint
    refs = [r for r in thread if r != own]
    if refs:  # under the customer's latest mail, else under the first one the customer got from us
        payload["in_reply_to"], payload["references"] = refs[-1], " ".join(refs)
    return payload




def thread_ids(session: Session, complaint_ids: list[int]) -> dict[int, tuple[str, ...]]:
    """Complaint id -> the Message-IDs a message to its customer threads under, oldest first (its
    ``References``; the last is its ``In-Reply-To``): the customer's e-mail that opened the complaint, the
    first message we sent them, the customer's latest e-mail on it (:func:`customer_mail_ids`). Complaints
    with none are left out. Three queries."""
    ours = first_message_ids(session, complaint_ids)
    theirs = customer_mail_ids(session, complaint_ids)
    out = {}
    for cid in complaint_ids:
        opened, latest = theirs.get(cid, (None, None))
        ids = tuple(dict.fromkeys(i for i in (opened, ours.get(cid), latest) if i))
        if ids:
            out[cid] = ids
    return out


def customer_mail_ids(session: Session, complaint_ids: list[int]) -> dict[int, tuple[str | None, str | None]]:
    """Complaint id -> (Message-ID of the customer's e-mail that opened it, of their latest e-mail recorded on
    it), each None when there is none; complaints with neither are left out."""
    out: dict[int, tuple[str | None, str | None]] = {}
    if not complaint_ids:
        return out
    for cid, extra in session.execute(select(Complaint.id, Complaint.extra).where(
            Complaint.id.in_(complaint_ids), Complaint.source == EMAIL_CHANNEL)):
        if (extra or {}).get(OPENING_MAIL_ID):
            out[cid] = (extra[OPENING_MAIL_ID], extra[OPENING_MAIL_ID])
    for cid, mail_id in session.execute(
            select(Message.complaint_id, Message.mail_id).where(
                Message.complaint_id.in_(complaint_ids), Message.direction == MessageDirection.INBOUND,
                Message.mail_id.is_not(None)).order_by(Message.id)):
        out[cid] = (out.get(cid, (None, None))[0], mail_id)
    return out


def first_message_ids(session: Session, complaint_ids: list[int]) -> dict[int, str]:
    """Complaint id -> the Message-ID of the first message sent to its customer (threading), where one exists."""
    out: dict[int, str] = {}
    if not complaint_ids:
        return out
    for cid, payload in session.execute(
            select(Message.complaint_id, Outbox.payload).join(Outbox, Outbox.id == Message.outbox_id)
            .where(Message.complaint_id.in_(complaint_ids)).order_by(Message.id)):
        if cid not in out and (payload or {}).get("message_id"):
            out[cid] = payload["message_id"]
    return out


def draft_for(a: Addressee, key: str, complaint_id: int, kind: NoticeKind, *, auto: bool = True,
              author: str = AUTHOR, **context) -> Draft:
    """Render ``kind`` for addressee ``a`` (name, number and their language filled in)."""
    r = render(kind, a.language, name=a.name, number=complaint_number(complaint_id), **context)
    return Draft(key, complaint_id, a.customer_id, kind, a.language, a.channel, a.target, r, auto, author)


def acknowledge_new(session: Session, config: Config, complaint_ids: list[int], now: datetime) -> int:
    """Acknowledge new complaints to their customers (ISO 10002 7.3): the complaint number, what happens
    next and the promised answer time (the complaint's resolve due instant, in the customer's zone and
    language). A complaint already past that instant when acknowledged (a backlog taken in late) is
    promised no time already gone: the message apologises and says the answer comes as soon as possible.
    Only with ``acknowledged`` in ``[customers] milestones``; rejected complaints and customers with no
    consented, routable contact point get none. Key ``customer:acknowledged:<complaint>``. Returns messages queued."""
    if Milestone.ACKNOWLEDGED not in config.model.customers.milestones or not complaint_ids:
        return 0
    who = addressees(session, config, complaint_ids)
    if not who:
        return 0
    due = dict(session.execute(select(Complaint.id, Complaint.due_at).where(
        Complaint.id.in_(list(who)), Complaint.status != ComplaintStatus.REJECTED)).all())
    drafts = []
    for cid, a in who.items():
        if cid not in due:
            continue
        due_at = due[cid]
        late = due_at is not None and due_at <= now
        promised = local_time(due_at, a.zone, a.language) if due_at and not late else None
        drafts.append(draft_for(a, f"customer:acknowledged:{cid}", cid, NoticeKind.ACKNOWLEDGED, due=promised,
                                late=late))
    return len(send(session, drafts, now))


def improved_notices(session: Session, config: Config, record_id: int, now: datetime) -> int:
    """Tell the customers of the complaints linked to improvement record ``record_id`` that it was verified
    effective: the cause of their complaint was found and the way of working changed (the ``improved``
    template: their complaint number and thanks; not the record's title, which is staff text in the staff's
    language and words). Only with ``improved`` in ``[customers] milestones``; merged and rejected complaints,
    erased customers and customers with no consented, routable contact point get none; in the customer's
    language, over their channel. Key ``customer:improved:<record>:<complaint>``; a customer with several
    linked complaints is told once per record (about the lowest-numbered one), also when a later pass finds
    one of them told already. Returns messages queued."""
    if Milestone.IMPROVED not in config.model.customers.milestones:
        return 0
    linked = session.execute(
        select(Complaint.id, Complaint.customer_id, Complaint.status)
        .join(ImprovementLink, ImprovementLink.complaint_id == Complaint.id)
        .join(Customer, Customer.id == Complaint.customer_id)
        .where(ImprovementLink.improvement_id == record_id, Customer.erased_at.is_(None))
        .order_by(Complaint.id)).all()
    key = {cid: f"customer:improved:{record_id}:{cid}" for cid, _, _ in linked}
    told = set(session.scalars(select(Outbox.idempotency_key).where(Outbox.idempotency_key.in_(list(key.values())))))
    done = {cust for cid, cust, _ in linked if key[cid] in told}
    first: dict[int, int] = {}
    for cid, cust, status in linked:
        if cust is not None and status not in (ComplaintStatus.MERGED, ComplaintStatus.REJECTED) and cust not in done:
            first.setdefault(cust, cid)
    who = addressees(session, config, sorted(first.values()))
    drafts = [draft_for(a, key[cid], cid, NoticeKind.IMPROVED) for cid, a in sorted(who.items())]
    return len(send(session, drafts, now))
