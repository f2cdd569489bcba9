"""Issue 13: mail that answers mail taken in earlier in the same poll batch threads onto the complaint
that batch creates, and a 25 MB attachment over the default cap is refused while its mail is taken in
(a real dovecot IMAP server; SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from models.tables import InboundMail, Message

from .imap_server import imap_server  # noqa: F401 - fixture
from .test_inbound_mail import ALICE, T0, count, email_complaints, mail, poll


def test_a_reply_to_a_mail_of_the_same_batch_threads_onto_the_complaint_the_batch_creates(
        sessions, config, imap_server, tmp_path):  # noqa: F811
    first = mail(subject="The heater is broken", body="first")
    second = mail(subject="Re: The heater is broken", body="second: a photo is coming",
                  In_Reply_To=first["Message-ID"], References=first["Message-ID"])
    third = mail(subject="Re: Re: The heater is broken", body="third: still cold",  # a chain: answers the second
                 In_Reply_To=second["Message-ID"], References=f"{first['Message-ID']} {second['Message-ID']}")
    by_refs = mail(subject="one more thing", body="fourth", References=first["Message-ID"])
    unrelated = mail(subject="Another matter", body="fifth")
    imap_server.append(*(bytes(m) for m in (first, second, third, by_refs, unrelated)))
    report = poll(sessions, config, imap_server, tmp_path, batch=50)
    assert (report.counts["complaint"], report.counts["reply"]) == (2, 3)
    heater, other = email_complaints(sessions)
    assert {(r.outcome, r.reason, r.complaint_id) for r in report.results} == {
        ("complaint", None, heater.id), ("reply", "headers", heater.id), ("complaint", None, other.id)}
    with sessions() as s:
        bodies = s.scalars(select(Message.body).where(Message.complaint_id == heater.id,
                                                      Message.direction == "inbound").order_by(Message.id)).all()
        assert [b.split("\n\n", 1)[1] for b in bodies] == ["first", "second: a photo is coming", "third: still cold",
                                                           "fourth"]
        replies = s.scalars(select(InboundMail.complaint_id).where(InboundMail.outcome == "reply")).all()
        assert replies == [heater.id] * 3

    # the same again in a later poll (a reply to the mail that made the complaint): the stored thread
    later = mail(subject="Re: The heater is broken", body="sixth", In_Reply_To=first["Message-ID"])
    imap_server.append(bytes(later))
    report = poll(sessions, config, imap_server, tmp_path, at=T0 + timedelta(hours=1))
    assert [r.complaint_id for r in report.results] == [heater.id]
    assert count(sessions, Message, Message.complaint_id == heater.id, Message.direction == "inbound") == 5


def test_a_reply_earlier_in_the_batch_than_its_original_cannot_thread_and_is_its_own_complaint(
        sessions, config, imap_server, tmp_path):  # noqa: F811
    """Mail is processed in mailbox order: an answer fetched before the mail it answers has nothing to
    thread onto yet (defined outcome: a complaint of its own; dedupe may link the two)."""
    first = mail(sender=ALICE, subject="Lost card", body="first")
    reply = mail(sender=ALICE, subject="Re: Lost card", body="reply", In_Reply_To=first["Message-ID"])
    imap_server.append(bytes(reply), bytes(first))
    report = poll(sessions, config, imap_server, tmp_path)
    assert report.counts["complaint"] == 2 and len(email_complaints(sessions)) == 2


def test_a_25_mb_attachment_over_the_default_cap_is_refused_and_the_mail_still_becomes_a_complaint(
        sessions, config, imap_server, tmp_path):  # noqa: F811
    from closeloop.services.inbound.attachments import DEFAULT_MAX_BYTES
    from models.tables import Attachment

    big = b"%PDF-1.7\n" + bytes(range(256)) * (25 * 1024 * 4)  # 25 MiB and a little
    m = mail(subject="Scan of the contract", body="The contract is attached.")
    m.add_attachment(big, maintype="application", subtype="pdf", filename="contract.pdf")
    m.add_attachment(b"%PDF-1.4 small", maintype="application", subtype="pdf", filename="receipt.pdf")
    imap_server.append(bytes(m))
    report = poll(sessions, config, imap_server, tmp_path, cap=DEFAULT_MAX_BYTES)
    assert (report.counts["complaint"], report.counts["attachment:refused"], report.counts["attachment:stored"]) == (
        1, 1, 1)
    (c,) = email_complaints(sessions)
    with sessions() as s:
        rows = {a.filename: a for a in s.scalars(select(Attachment).where(Attachment.complaint_id == c.id))}
    assert (rows["contract.pdf"].status, rows["contract.pdf"].reason, rows["contract.pdf"].size) == (
        "refused", "too_large", len(big))
    assert rows["contract.pdf"].sha256 is None and rows["receipt.pdf"].status == "stored"
    stored = [p for p in (tmp_path / "attachments").rglob("*") if p.is_file()]
    assert len(stored) == 1 and stored[0].stat().st_size == len(b"%PDF-1.4 small")  # the big one never written
