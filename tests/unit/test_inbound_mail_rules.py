"""Inbound e-mail, pure rules: loop detection, threading keys, type sniffing, quarantine reasons."""

from __future__ import annotations

import pytest

from closeloop.domain.inbound_mail import (
    LoopReason,
    QuarantineReason,
    Unparseable,
    id_key,
    parse_mail,
    sniff_type,
    subject_token,
)

HEAD = b"From: Ann <ann@example.org>\r\nSubject: Re: [CL-42] parcel\r\nMessage-ID: <a1@example.org>\r\n"


def parsed(extra: bytes = b"", body: bytes = b"text\r\n", head: bytes = HEAD):
    return parse_mail(head + extra + b"\r\n" + body)


@pytest.mark.parametrize("header, reason", [
    (b"Auto-Submitted: auto-replied\r\n", LoopReason.AUTO_SUBMITTED),
    (b"Auto-Submitted: auto-generated; owner=x\r\n", LoopReason.AUTO_SUBMITTED),
    (b"X-Autoreply: yes\r\n", LoopReason.X_AUTOREPLY),
    (b"X-Autorespond: 1\r\n", LoopReason.X_AUTORESPOND),
    (b"Precedence: junk\r\n", LoopReason.PRECEDENCE),
    (b"Precedence: auto_reply\r\n", LoopReason.PRECEDENCE),
    (b"Return-Path: <>\r\n", LoopReason.NULL_RETURN_PATH),
    (b"Auto-Submitted: no\r\n", None),
    (b"Precedence: first-class\r\n", None),
])
def test_loop_headers(header, reason):
    assert parsed(header).loop == reason


def test_mailer_daemon_and_delivery_reports_are_loops():
    assert parsed(head=HEAD.replace(b"ann@example.org", b"MAILER-DAEMON@mx.example.org")).loop \
        == LoopReason.MAILER_DAEMON
    report = parsed(b"MIME-Version: 1.0\r\nContent-Type: multipart/report; boundary=b\r\n",
                    b"--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b--\r\n")
    assert report.loop == LoopReason.DELIVERY_REPORT


def test_threading_keys_and_tokens():
    m = parsed(b"In-Reply-To: <x2@c>\r\nReferences: <x0@c> <x1@c> <x2@c>\r\n")
    assert m.references == ("<x2@c>", "<x1@c>", "<x0@c>") and m.sender == "ann@example.org"
    assert subject_token(m.subject) == 42 and subject_token("no token [CL-]") is None
    assert m.key(b"") == id_key("<a1@example.org>")


def test_html_only_mail_is_read_as_text():
    m = parsed(b"Content-Type: text/html; charset=utf-8\r\n", b"<p>Hello&nbsp;<b>there</b></p><script>x()</script>")
    assert "Hello" in m.text and "there" in m.text and "<" not in m.text and "x()" not in m.text


@pytest.mark.parametrize("raw, reason", [
    (HEAD + b"Content-Type: text/plain; charset=x-unheard-of\r\n\r\nabc", QuarantineReason.UNKNOWN_CHARSET),
    (HEAD + b"Content-Type: multipart/mixed\r\n\r\n--x\r\nno boundary", QuarantineReason.MALFORMED_MIME),
    (b"Subject: nobody\r\n\r\nbody", QuarantineReason.NO_SENDER),
])
def test_unreadable_mail_names_the_reason(raw, reason):
    with pytest.raises(Unparseable) as exc:
        parse_mail(raw)
    assert exc.value.reason == reason


@pytest.mark.parametrize("data, media", [
    (b"%PDF-1.7 ...", "application/pdf"), (b"\x89PNG\r\n\x1a\n....", "image/png"),
    (b"\xff\xd8\xff\xe0..", "image/jpeg"), (b"PK\x03\x04...", "application/zip"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"), ("plain 文字\n".encode(), "text/plain"),
    (b"\x00\x01\x02\x03binary", "application/octet-stream"),
])
def test_type_is_sniffed_from_content(data, media):
    assert sniff_type(data) == media
