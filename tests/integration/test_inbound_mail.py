"""Issue 13, part 3: inbound e-mail from a real IMAP server (dovecot) and a real SMTP server (aiosmtpd),
on SQLite and PostgreSQL: new complaints, threaded replies, loop protection, quarantine, attachments,
foreign tokens and idempotent polling."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import func, select

from closeloop.clock import FixedClock
from closeloop.domain.complaint import ComplaintStatus
from closeloop.services.engine.delivery import deliver_once
from closeloop.services.inbound import InboundOptions, poll_mailbox
from integrations.imap import ImapMailbox
from integrations.senders import RoutingSender
from integrations.smtp import SmtpSender
from models.tables import (
    Attachment,
    Complaint,
    Customer,
    CustomerContact,
    InboundMail,
    MailQuarantine,
    Message,
    Outbox,
    Transition,
)

from .imap_server import imap_server  # noqa: F401 - fixture
from .smtp_server import smtp_server  # noqa: F401 - fixture

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
ALICE, BOB = "alice@example.org", "bob@example.net"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def mail(sender: str = ALICE, subject: str = "My parcel never arrived", body: str = "It is two weeks late.",
         **headers: str) -> EmailMessage:
    m = EmailMessage()
    m["From"] = f"Alice Example <{sender}>"
    m["To"] = "care@example.org"
    m["Subject"] = subject
    m["Message-ID"] = make_msgid(domain="example.org")
    for name, value in headers.items():
        m[name.replace("_", "-")] = value
    m.set_content(body)
    return m


def poll(sessions, config, server, tmp_path, at=T0, cap=10 * 1024 * 1024, batch=50, source=None):
    options = InboundOptions(tmp_path / "attachments", cap)
    with ImapMailbox(server.url) as box:
        return poll_mailbox(sessions, config, source(box) if source else box, now=at, options=options,
                            batch_size=batch)


def count(sessions, model, *where) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def email_complaints(sessions) -> list[Complaint]:
    with sessions() as s:
        return list(s.scalars(select(Complaint).where(Complaint.source == "email").order_by(Complaint.id)))


def test_a_mail_becomes_a_complaint_and_the_reply_to_our_acknowledgement_threads_onto_it(
        sessions, config, imap_server, smtp_server, tmp_path):  # noqa: F811
    smtp_url, inbox = smtp_server
    imap_server.append(bytes(mail()))
    report = poll(sessions, config, imap_server, tmp_path)
    assert report.counts["complaint"] == 1 and imap_server.unseen() == 0
    (c,) = email_complaints(sessions)
    assert (c.channel, c.status) == ("email", ComplaintStatus.TRIAGED)
    with sessions() as s:
        cust = s.get(Customer, c.customer_id)
        assert cust is not None and cust.display_name == "Alice Example" and ALICE not in cust.ref
        contact = s.scalars(select(CustomerContact).where(CustomerContact.customer_id == cust.id)).one()
        assert (contact.kind, contact.value, contact.consent, contact.verified) == ("email", ALICE, True, False)
    sender = RoutingSender({"email": SmtpSender(smtp_url, "care@example.org", 5)})
    assert asyncio.run(deliver_once(sessions, sender, FixedClock(T0), worker="w")).delivered == 1
    (ack,) = inbox.to(ALICE)
    assert f"[CL-{c.id}]" in str(ack["Subject"]) or f"CL-{c.id}" in str(ack["Subject"])

    reply = mail(subject=f"Re: {ack['Subject']}", body="Still nothing.", In_Reply_To=str(ack["Message-ID"]),
                 References=str(ack["Message-ID"]))
    imap_server.append(bytes(reply))
    report = poll(sessions, config, imap_server, tmp_path, at=T0 + timedelta(hours=1))
    assert report.counts["reply"] == 1 and [(r.outcome, r.reason, r.complaint_id) for r in report.results] == [
        ("reply", "headers", c.id)]
    with sessions() as s:
        bodies = s.scalars(select(Message.body).where(Message.complaint_id == c.id, Message.direction == "inbound")
                           .order_by(Message.id)).all()
    assert len(bodies) == 2 and "Still nothing." in bodies[1]
    assert len(email_complaints(sessions)) == 1

    imap_server.append(bytes(reply))  # the same message again (same Message-ID): processed once
    report = poll(sessions, config, imap_server, tmp_path, at=T0 + timedelta(hours=2))
    assert report.counts == {"duplicate": 1, "polled": 1}
    assert count(sessions, Message, Message.complaint_id == c.id, Message.direction == "inbound") == 2
    assert count(sessions, Outbox) == 1  # nothing answered the reply


def test_our_mails_thread_under_the_customers_latest_mail(sessions, config, imap_server, smtp_server, tmp_path):  # noqa: F811
    # the acknowledgement of a mailed complaint had no In-Reply-To/References: it did not thread under the mail
    from closeloop.services.customers.replies import send_reply

    smtp_url, inbox = smtp_server
    first = mail()
    imap_server.append(bytes(first))
    poll(sessions, config, imap_server, tmp_path)
    (c,) = email_complaints(sessions)
    sender = RoutingSender({"email": SmtpSender(smtp_url, "care@example.org", 5)})
    asyncio.run(deliver_once(sessions, sender, FixedClock(T0), worker="w"))
    (ack,) = inbox.to(ALICE)
    assert ack["In-Reply-To"] == ack["References"] == first["Message-ID"]

    second = mail(subject=f"Re: {ack['Subject']}", body="Still nothing.", In_Reply_To=str(ack["Message-ID"]),
                  References=f"{first['Message-ID']} {ack['Message-ID']}")
    imap_server.append(bytes(second))
    poll(sessions, config, imap_server, tmp_path, at=T0 + timedelta(hours=1))
    send_reply(sessions, config, c.id, "We are on it.", actor="agent", at=T0 + timedelta(hours=2))
    asyncio.run(deliver_once(sessions, sender, FixedClock(T0 + timedelta(hours=2)), worker="w"))
    (answer,) = [m for m in inbox.to(ALICE) if m["Message-ID"] != ack["Message-ID"]]
    assert answer["In-Reply-To"] == second["Message-ID"]
    assert answer["References"].split() == [first["Message-ID"], ack["Message-ID"], second["Message-ID"]]


def test_auto_replies_and_bounces_never_create_reopen_or_answer(sessions, config, imap_server, tmp_path):  # noqa: F811
    imap_server.append(bytes(mail()))
    poll(sessions, config, imap_server, tmp_path)
    (c,) = email_complaints(sessions)
    outbox_before = count(sessions, Outbox)
    token = f"[CL-{c.id}]"
    dsn = (b"From: Mail Delivery System <postmaster@mx.example.org>\r\nSubject: Undelivered Mail " + token.encode()
           + b"\r\nMessage-ID: <dsn-1@mx.example.org>\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n"
           b"--b1\r\nContent-Type: text/plain\r\n\r\ndelivery failed\r\n"
           b"--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
           b"--b1--\r\n")
    autos = [mail(subject=f"Out of office {token}", Auto_Submitted="auto-replied"),
             mail(subject=f"Away {token}", X_Autoreply="yes"),
             mail(subject=f"Away {token}", X_Autorespond="yes"),
             mail(subject=f"News {token}", Precedence="bulk"),
             mail(sender="mailer-daemon@mx.example.org", subject=f"failure {token}")]
    imap_server.append(*(bytes(m) for m in autos), dsn)
    report = poll(sessions, config, imap_server, tmp_path, at=T0 + timedelta(hours=1))
    assert report.counts["ignored"] == 6 and report.counts["ignored:auto_submitted"] == 1
    assert {r.reason for r in report.results} == {"auto_submitted", "x_autoreply", "x_autorespond", "precedence",
                                                  "mailer_daemon", "delivery_report"}
    assert len(email_complaints(sessions)) == 1
    assert count(sessions, Message, Message.complaint_id == c.id, Message.direction == "inbound") == 1
    assert count(sessions, Outbox) == outbox_before
    assert count(sessions, InboundMail, InboundMail.outcome == "ignored") == 6


def test_unreadable_mail_is_quarantined_with_its_raw_bytes_and_counted(sessions, config, imap_server, tmp_path):  # noqa: F811
    broken = (b"From: alice@example.org\r\nSubject: broken\r\nMessage-ID: <broken-1@example.org>\r\n"
              b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\nno boundary at all\r\n")
    charset = (b"From: alice@example.org\r\nSubject: odd\r\nMessage-ID: <charset-1@example.org>\r\n"
               b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\n\xa4\xa4\xa4\r\n")
    imap_server.append(broken, charset)
    report = poll(sessions, config, imap_server, tmp_path)
    assert report.counts["quarantined"] == 2
    assert report.counts["quarantined:malformed_mime"] == report.counts["quarantined:unknown_charset"] == 1
    assert email_complaints(sessions) == []
    with sessions() as s:
        kept = {reason: raw for reason, raw in s.execute(
            select(InboundMail.reason, MailQuarantine.raw).join(MailQuarantine))}
    assert kept == {"malformed_mime": broken, "unknown_charset": charset}
    assert imap_server.unseen() == 0
    imap_server.append(broken)
    assert poll(sessions, config, imap_server, tmp_path).counts["duplicate"] == 1
    assert count(sessions, MailQuarantine) == 2


def test_attachments_are_stored_by_content_typed_by_content_and_capped(sessions, config, imap_server, tmp_path):  # noqa: F811
    m = mail(subject="Photo of the damage")
    m.add_attachment(PNG, maintype="application", subtype="pdf", filename="damage.pdf")
    m.add_attachment(b"x" * 5000, maintype="application", subtype="octet-stream", filename="huge.bin")
    imap_server.append(bytes(m))
    report = poll(sessions, config, imap_server, tmp_path, cap=4096)
    assert report.counts["complaint"] == 1
    assert report.counts["attachment:stored"] == report.counts["attachment:refused"] == 1
    (c,) = email_complaints(sessions)
    with sessions() as s:
        rows = {a.filename: a for a in s.scalars(select(Attachment).where(Attachment.complaint_id == c.id))}
    png = rows["damage.pdf"]
    digest = hashlib.sha256(PNG).hexdigest()
    assert (png.status, png.content_type, png.declared_type, png.sha256, png.size) == (
        "stored", "image/png", "application/pdf", digest, len(PNG))
    assert (tmp_path / "attachments" / digest[:2] / digest).read_bytes() == PNG
    huge = rows["huge.bin"]
    assert (huge.status, huge.reason, huge.sha256, huge.size) == ("refused", "too_large", None, 5000)


def test_a_token_of_another_customers_complaint_becomes_a_new_complaint(sessions, config, imap_server, tmp_path):  # noqa: F811
    imap_server.append(bytes(mail()))
    poll(sessions, config, imap_server, tmp_path)
    (alices,) = email_complaints(sessions)
    with sessions() as s:
        s.execute(Complaint.__table__.update().where(Complaint.id == alices.id).values(status="resolved"))
        s.commit()
    imap_server.append(bytes(mail(sender=BOB, subject=f"Re: [CL-{alices.id}] hello")),
                       bytes(mail(subject=f"Re: [CL-{alices.id}] still waiting", body="any news?")))
    report = poll(sessions, config, imap_server, tmp_path, at=T0 + timedelta(hours=1))
    assert sorted((r.outcome, r.reason) for r in report.results) == [("complaint", "foreign_token"),
                                                                     ("reply", "token")]
    alices_now, bobs = email_complaints(sessions)
    assert bobs.customer_id != alices.customer_id
    assert alices_now.status == ComplaintStatus.REOPENED  # Alice's own reply reopened hers
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Transition).where(
            Transition.complaint_id == alices.id, Transition.trigger == "reopen")) == 1


def test_a_crash_between_commit_and_seen_flag_never_duplicates(sessions, config, imap_server, tmp_path):  # noqa: F811
    class CrashOnSeen:
        def __init__(self, box):
            self.box = box

        def unseen(self):
            return self.box.unseen()

        def fetch(self, uids):
            return self.box.fetch(uids)

        def mark_seen(self, uids):
            raise ConnectionError("the IMAP connection dropped")

    imap_server.append(*(bytes(mail(subject=f"complaint {i}")) for i in range(5)))
    with pytest.raises(ConnectionError):
        poll(sessions, config, imap_server, tmp_path, batch=2, source=CrashOnSeen)
    assert len(email_complaints(sessions)) == 2 and imap_server.unseen() == 5
    report = poll(sessions, config, imap_server, tmp_path, batch=2)
    assert (report.counts["duplicate"], report.counts["complaint"]) == (2, 3)
    assert len(email_complaints(sessions)) == 5 and imap_server.unseen() == 0
    assert poll(sessions, config, imap_server, tmp_path).counts == {}


def test_cli_mail_poll_takes_the_mailbox_in_once(imap_server, tmp_path, monkeypatch):  # noqa: F811
    import json

    from typer.testing import CliRunner

    from closeloop.cli import app

    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("CLOSELOOP_ATTACHMENT_DIR", str(tmp_path / "att"))
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], catch_exceptions=False).exit_code == 0
    monkeypatch.delenv("CLOSELOOP_IMAP_URL", raising=False)
    res = runner.invoke(app, ["mail", "poll"], catch_exceptions=False)
    assert res.exit_code == 2 and "CLOSELOOP_IMAP_URL" in res.output
    monkeypatch.setenv("CLOSELOOP_IMAP_URL", imap_server.url)
    imap_server.append(bytes(mail()), bytes(mail(subject="second")))
    res = runner.invoke(app, ["mail", "poll", "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert '"complaint": 2' in res.output and imap_server.unseen() == 0
    res = runner.invoke(app, ["mail", "poll"], catch_exceptions=False)
    assert res.exit_code == 0 and "no unseen messages" in res.output
    res = runner.invoke(app, ["mail", "poll", "--json"], catch_exceptions=False)  # nothing unseen: the zeros, not {}
    assert res.exit_code == 0 and json.loads(res.output) == {
        "complaint": 0, "reply": 0, "ignored": 0, "quarantined": 0, "duplicate": 0}
