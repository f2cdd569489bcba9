"""Inbound e-mail, pure rules (standard library only): parse, recognise loops, thread, sniff types.

- :func:`parse_mail` reads raw RFC 822 bytes with ``email`` (``policy.default``) into a
  :class:`ParsedMail`; mail that cannot be read raises :class:`Unparseable` with a
  :class:`QuarantineReason` (it is kept, never dropped).
- :func:`loop_reason`: an auto-reply or a bounce (RFC 3834 ``Auto-Submitted``, ``X-Autoreply``,
  ``X-Autorespond``, ``Precedence: bulk/junk/auto_reply/list``, a ``multipart/report`` delivery
  report, a ``MAILER-DAEMON``/``postmaster`` sender or an empty ``Return-Path``) never creates or
  reopens a complaint and is never answered.
- Threading keys: the ``In-Reply-To``/``References`` Message-IDs and a complaint token ``[CL-123]``
  in the subject (:func:`subject_token`).
- :func:`sniff_type`: an attachment's type from its first bytes, never from its name.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.errors import (
    MessageDefect,
    MultipartInvariantViolationDefect,
    NoBoundaryInMultipartDefect,
    StartBoundaryNotFoundDefect,
)
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from enum import StrEnum
from urllib.parse import quote

from .ids import MAX_ID


class MailOutcome(StrEnum):
    """What became of one inbound message."""

    COMPLAINT = "complaint"      # a new complaint through the intake
    REPLY = "reply"              # an inbound message on an existing complaint
    IGNORED = "ignored"          # an auto-reply or bounce (``reason`` says which)
    QUARANTINED = "quarantined"  # unreadable: kept with its raw bytes


class LoopReason(StrEnum):
    AUTO_SUBMITTED = "auto_submitted"
    X_AUTOREPLY = "x_autoreply"
    X_AUTORESPOND = "x_autorespond"
    PRECEDENCE = "precedence"
    DELIVERY_REPORT = "delivery_report"
    MAILER_DAEMON = "mailer_daemon"
    NULL_RETURN_PATH = "null_return_path"


class QuarantineReason(StrEnum):
    MALFORMED_MIME = "malformed_mime"
    UNKNOWN_CHARSET = "unknown_charset"
    NO_SENDER = "no_sender"
    INTAKE_FAILED = "intake_failed"  # readable, but taking it in failed (a bug or a limit): kept to reprocess


class ThreadReason(StrEnum):
    """How a message found (or did not find) its complaint."""

    HEADERS = "headers"              # In-Reply-To / References named one of our messages
    TOKEN = "token"                  # [CL-n] of a complaint of the sender's customer
    FOREIGN_TOKEN = "foreign_token"  # [CL-n] of another customer's complaint: a new complaint instead
    NONE = "none"


class AttachmentStatus(StrEnum):
    STORED = "stored"
    REFUSED = "refused"


class AttachmentRefusal(StrEnum):
    TOO_LARGE = "too_large"


class Unparseable(Exception):
    """The message cannot be read; ``reason`` says why (the message names no personal data)."""

    def __init__(self, reason: QuarantineReason, detail: str):
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True)
class Part:
    """One attachment: the name the sender gave (may be empty), the declared type and the decoded bytes."""

    filename: str
    declared_type: str
    data: bytes


@dataclass(frozen=True)
class ParsedMail:
    message_id: str | None
    sender: str                       # lower-cased address
    sender_name: str | None
    subject: str
    text: str
    references: tuple[str, ...]       # In-Reply-To first, then References, newest first
    loop: LoopReason | None
    attachments: tuple[Part, ...] = field(default_factory=tuple)

    def key(self, raw: bytes) -> str:
        """The idempotency key: SHA-256 of the Message-ID, or of the raw bytes when it has none."""
        return id_key(self.message_id) if self.message_id else raw_key(raw)


#: Multipart defects that mean the structure cannot be trusted (the parser guessed).
FATAL_DEFECTS: tuple[type[MessageDefect], ...] = (NoBoundaryInMultipartDefect, StartBoundaryNotFoundDefect,
                                                  MultipartInvariantViolationDefect)
#: ``complaint.extra`` key of the Message-ID of the customer's e-mail that opened a complaint (source ``email``).
OPENING_MAIL_ID = "message_id"

_MSGID = re.compile(r"<[^<>\s]{1,500}>")
_TOKEN = re.compile(r"\[CL-(\d{1,10})\]", re.IGNORECASE)
_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]*>", re.IGNORECASE | re.DOTALL)
_LOOP_PRECEDENCE = {"bulk", "junk", "auto_reply", "list"}
_DAEMONS = {"mailer-daemon", "postmaster"}


def id_key(message_id: str) -> str:
    return hashlib.sha256(b"mid:" + message_id.strip().encode("utf-8", "surrogateescape")).hexdigest()


def raw_key(raw: bytes) -> str:
    return hashlib.sha256(b"raw:" + raw).hexdigest()


def subject_token(subject: str) -> int | None:
    """The complaint id of the first ``[CL-123]`` token in ``subject``, or None (also for a number over
    :data:`~closeloop.domain.ids.MAX_ID`: no complaint's, and PostgreSQL would fail comparing it with an id)."""
    m = _TOKEN.search(subject or "")
    return int(m.group(1)) if m and int(m.group(1)) <= MAX_ID else None


def message_ids(value: str | None) -> list[str]:
    """The ``<...>`` Message-IDs in a header value, in order."""
    return _MSGID.findall(value or "")


def parse_mail(raw: bytes) -> ParsedMail:
    """Read one message; raises :class:`Unparseable` (malformed MIME, unknown charset, no sender)."""
    try:
        msg = message_from_bytes(raw, policy=policy.default)
        if not isinstance(msg, EmailMessage):  # pragma: no cover - policy.default always builds one
            raise Unparseable(QuarantineReason.MALFORMED_MIME, "not a message")
        _check_structure(msg)
        sender, name = _sender(msg)
        text = _text(msg)
        refs = message_ids(str(msg.get("In-Reply-To") or "")) + list(reversed(
            message_ids(str(msg.get("References") or ""))))
        own = message_ids(str(msg.get("Message-ID") or ""))
        return ParsedMail(own[0] if own else None, sender, name, str(msg.get("Subject") or "").strip(), text,
                          tuple(dict.fromkeys(refs)), loop_reason(msg, sender), tuple(_attachments(msg)))
    except Unparseable:
        raise
    except LookupError as exc:
        raise Unparseable(QuarantineReason.UNKNOWN_CHARSET, f"unknown character set ({type(exc).__name__})") from None
    except Exception as exc:  # noqa: BLE001 - any failure to read arbitrary bytes is a malformed message
        raise Unparseable(QuarantineReason.MALFORMED_MIME, f"cannot be read ({type(exc).__name__})") from None


def header_sender(raw: bytes) -> str | None:
    """The lower-cased ``From`` address of any message, readable or not (the header block only, leniently:
    ``compat32``, undecodable bytes kept as escapes); None when it names none. Finds a quarantined
    message's sender (erasure, :mod:`closeloop.services.customers.erasure`)."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    try:
        msg = BytesHeaderParser(policy=compat32).parsebytes(head)
        pairs = getaddresses([str(v) for v in msg.get_all("From") or ()])
    except Exception:  # noqa: BLE001 - arbitrary bytes: no sender to be found
        return None
    for _, addr in pairs:
        if "@" in addr:
            return addr.strip().lower()
    return None


def _check_structure(msg: EmailMessage) -> None:
    for part in msg.walk():
        for defect in part.defects:
            if isinstance(defect, FATAL_DEFECTS):
                raise Unparseable(QuarantineReason.MALFORMED_MIME, type(defect).__name__)


def _sender(msg: EmailMessage) -> tuple[str, str | None]:
    header = msg.get("From")
    addresses = getattr(header, "addresses", ()) if header is not None else ()
    if not addresses or not addresses[0].addr_spec or "@" not in addresses[0].addr_spec:
        raise Unparseable(QuarantineReason.NO_SENDER, "no From address")
    first = addresses[0]
    return first.addr_spec.strip().lower(), (first.display_name or None)


def _text(msg: EmailMessage) -> str:
    body = msg.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    content = body.get_content()
    if not isinstance(content, str):
        return ""
    if body.get_content_subtype() == "html":
        content = html.unescape(_TAG.sub(" ", content))
    return content.replace("\x00", "").strip()


def _attachments(msg: EmailMessage) -> list[Part]:
    out = []
    for part in msg.iter_attachments():
        if not isinstance(part, EmailMessage):  # pragma: no cover
            continue
        data = part.get_payload(decode=True)
        if isinstance(part.get_payload(), list) or not isinstance(data, bytes):  # an attached message
            data = part.as_bytes()
        out.append(Part(str(part.get_filename() or "")[:255], part.get_content_type()[:100], data))
    return out


def loop_reason(msg: EmailMessage, sender: str) -> LoopReason | None:
    """Why ``msg`` is automatic mail that must not be answered or taken in, or None for a person's mail."""
    auto = str(msg.get("Auto-Submitted") or "").strip().lower()
    if auto and auto.split(";")[0].strip() != "no":
        return LoopReason.AUTO_SUBMITTED
    if msg.get("X-Autoreply") is not None:
        return LoopReason.X_AUTOREPLY
    if msg.get("X-Autorespond") is not None:
        return LoopReason.X_AUTORESPOND
    if str(msg.get("Precedence") or "").strip().lower() in _LOOP_PRECEDENCE:
        return LoopReason.PRECEDENCE
    if msg.get_content_type() == "multipart/report":
        return LoopReason.DELIVERY_REPORT
    if sender.split("@", 1)[0] in _DAEMONS:
        return LoopReason.MAILER_DAEMON
    if str(msg.get("Return-Path") or "").strip() == "<>":
        return LoopReason.NULL_RETURN_PATH
    return None


_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"%PDF-", 0, "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
    (b"PK\x03\x04", 0, "application/zip"),
    (b"\x1f\x8b", 0, "application/gzip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 0, "application/x-ole-storage"),
    (b"ftyp", 4, "video/mp4"),
    (b"ID3", 0, "audio/mpeg"),
)


def sniff_type(data: bytes) -> str:
    """The media type from the content's first bytes (magic numbers); text when it decodes as UTF-8
    without control bytes; otherwise ``application/octet-stream``."""
    for magic, offset, media in _MAGIC:
        if data[offset:offset + len(magic)] == magic:
            return media
    head = data[:4096]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:
            return "application/octet-stream"
        text = head[:exc.start].decode("utf-8")
    if any(ord(c) < 32 and c not in "\t\r\n\f" for c in text):
        return "application/octet-stream"
    return "text/plain"


#: Sniffed types served as themselves on download; anything else (and anything unknown) is served as
#: ``application/octet-stream``. Never a type a browser renders as a page (HTML, SVG, XML): with
#: ``Content-Disposition: attachment`` and ``nosniff`` a stored file cannot run script in our origin.
SAFE_SERVED_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp",
                               "application/zip", "application/gzip", "video/mp4", "audio/mpeg", "text/plain"})
OCTET_STREAM = "application/octet-stream"
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]")


def served_type(content_type: str | None) -> str:
    """The ``Content-Type`` a stored attachment is served with: its sniffed type when in
    :data:`SAFE_SERVED_TYPES` (``text/plain`` with ``charset=utf-8``), else ``application/octet-stream``."""
    if content_type not in SAFE_SERVED_TYPES:
        return OCTET_STREAM
    return "text/plain; charset=utf-8" if content_type == "text/plain" else content_type


def content_disposition(filename: str, fallback: str) -> str:
    """A ``Content-Disposition: attachment`` value (RFC 6266) for the sender's ``filename``: an ASCII
    ``filename`` (other characters as ``_``, no quotes, slashes or line breaks) and the full name as a
    UTF-8 ``filename*`` (RFC 8187). An empty name (or one of dots) becomes ``fallback``."""
    name = "".join(ch for ch in filename if ch.isprintable()).replace("/", "_").replace("\\", "_").strip()
    if not name.strip("."):
        name = fallback
    ascii_name = _UNSAFE_NAME.sub("_", name)[:150] or fallback
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name[:150], safe='')}"
