"""Issue 13: ``customers forget`` reaches inbound e-mail too: quarantined raw mail from the customer's
addresses, the attachments of their complaints (a file shared with another customer's message stays until
no row names it), the search document; nothing personal is left in any table. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from sqlalchemy import select

from closeloop.services.customers.profiles import forget
from closeloop.services.reads.search import matching_ids
from models.tables import (
    Attachment,
    Base,
    Complaint,
    Customer,
    CustomerContact,
    InboundMail,
    MailQuarantine,
    Transition,
)

from .imap_server import imap_server  # noqa: F401 - fixture
from .test_inbound_mail import T0, count, mail, poll

ALICE, BOB = "alice.zyxwv@example.org", "bob.qwertz@example.net"
SHARED = b"\x89PNG\r\n\x1a\n" + b"shared-photo" * 20
OWN = b"%PDF-1.4 alice's own document"
PERSONAL = ("Zyxwv", ALICE, "Quokkadelivery", "Marzipanlane", "alice-passport", "tangerinesecret")


def _mail_with_files(sender: str, name: str, subject: str, body: str, *files: tuple[bytes, str]) -> bytes:
    m = mail(sender=sender, subject=subject, body=body)
    m.replace_header("From", f"{name} <{sender}>")
    for data, filename in files:
        m.add_attachment(data, maintype="application", subtype="octet-stream", filename=filename)
    return bytes(m)


def _broken(sender: str, secret: str) -> bytes:
    return (f"From: {sender}\r\nSubject: {secret}\r\nMessage-ID: <{secret}@example.org>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: multipart/mixed; boundary=\"zz\"\r\n\r\nno boundary, {secret}\r\n").encode()


def _ref_of(sessions, address: str) -> str:
    with sessions() as s:
        return s.scalar(select(Customer.ref).join(CustomerContact, CustomerContact.customer_id == Customer.id)
                        .where(CustomerContact.value == address))


def _every_value(sessions):
    """Every stored value of every table, as text (bytes read as Latin-1, JSON dumped)."""
    with sessions() as s:
        for table in Base.metadata.sorted_tables:
            for row in s.execute(select(table)):
                for col, value in zip(table.columns, row, strict=True):
                    if isinstance(value, bytes | memoryview):
                        yield table.name, col.name, bytes(value).decode("latin-1")
                    elif isinstance(value, dict | list):
                        yield table.name, col.name, json.dumps(value, ensure_ascii=False)
                    elif isinstance(value, str):
                        yield table.name, col.name, value


def _left(sessions, needles) -> list[tuple[str, str, str]]:
    return [(t, c, n) for t, c, v in _every_value(sessions) for n in needles if n.lower() in v.lower()]


def test_forget_erases_quarantined_mail_and_attachments_keeping_shared_files_until_the_last_owner(
        sessions, config, imap_server, tmp_path):  # noqa: F811
    imap_server.append(
        _mail_with_files(ALICE, "Alice Zyxwv", "Quokkadelivery never came", "I live at 4 Marzipanlane.",
                         (SHARED, "alice-passport.png"), (OWN, "alice-passport-2.pdf")),
        _mail_with_files(BOB, "Bob Qwertz", "Broken vase", "The vase broke.", (SHARED, "photo.png")),
        _broken(ALICE, "tangerinesecret"), _broken(BOB, "bobsecret"))
    report = poll(sessions, config, imap_server, tmp_path)
    assert (report.counts["complaint"], report.counts["quarantined"], report.counts["attachment:stored"]) == (2, 2, 3)
    files = tmp_path / "attachments"
    shared, own = (files / d[:2] / d for d in (hashlib.sha256(SHARED).hexdigest(), hashlib.sha256(OWN).hexdigest()))
    assert shared.exists() and own.exists()
    assert {n for *_, n in _left(sessions, PERSONAL)} == set(PERSONAL)  # each needle is stored before
    alice_ref = _ref_of(sessions, ALICE)
    with sessions() as s:
        (alices,) = s.scalars(select(Complaint.id).join(Customer).where(Customer.ref == alice_ref)).all()
    assert alices in set(sessions().scalars(matching_ids(sessions(), "Marzipanlane")))

    e = forget(sessions, alice_ref, actor="dpo", at=T0 + timedelta(days=1), attachment_dir=files)
    assert (e.quarantined, e.attachments, e.files, e.complaints) == (1, 2, 1, 1)
    assert shared.exists() and not own.exists()  # Bob's message still names the shared photo
    assert _left(sessions, PERSONAL) == []
    with sessions() as s:
        assert s.scalars(select(MailQuarantine.raw)).all() == [_broken(BOB, "bobsecret")]
        assert [a.filename for a in s.scalars(select(Attachment))] == ["photo.png"]
        assert s.scalar(select(Complaint.status).where(Complaint.id == alices)) == "triaged"  # statistics stay
        assert count(sessions, InboundMail) == 4  # outcomes and counts stay (no personal data in them)
        (audit,) = s.scalars(select(Transition).where(Transition.entity == "customer")).all()
        assert {k: audit.data[k] for k in ("quarantined", "attachments", "files")} == {
            "quarantined": 1, "attachments": 2, "files": 1}
        assert not any(n.lower() in (audit.reason or "") + json.dumps(audit.data) for n in PERSONAL)
        assert list(s.scalars(matching_ids(s, "Marzipanlane"))) == []  # the search document lost the text
        assert alices in set(s.scalars(matching_ids(s, alice_ref)))  # the pseudonymous ref still finds it

    e = forget(sessions, _ref_of(sessions, BOB), actor="dpo", at=T0 + timedelta(days=2), attachment_dir=files)
    assert (e.quarantined, e.attachments, e.files) == (1, 1, 1)
    assert not shared.exists()
    assert count(sessions, Attachment) == count(sessions, MailQuarantine) == 0
    assert _left(sessions, ("Qwertz", BOB, "bobsecret", "Broken vase", "The vase broke", "photo.png")) == []


def test_forget_clears_the_message_ids_of_the_customers_mails_and_others_still_thread(
        sessions, config, imap_server, tmp_path):  # noqa: F811
    """The opening mail's Message-ID (``complaint.extra``) and each reply's (``message.mail_id``) may carry the
    sender's address or host: erased with the customer; Bob's thread keeps working."""
    alice_open, alice_reply = "<1.alice.zyxwv@mail.alicehost.example>", "<2.alice.zyxwv@mail.alicehost.example>"
    bob_open, bob_reply = "<1.bob@bobhost.example>", "<2.bob@bobhost.example>"

    def msg(sender: str, mid: str, refs: str | None = None) -> bytes:
        m = mail(sender=sender, subject="Parcel", body="late")
        m.replace_header("Message-ID", mid)
        if refs:
            m["In-Reply-To"] = refs
        return bytes(m)

    imap_server.append(msg(ALICE, alice_open), msg(BOB, bob_open))
    poll(sessions, config, imap_server, tmp_path)
    imap_server.append(msg(ALICE, alice_reply, alice_open), msg(BOB, bob_reply, bob_open))
    assert poll(sessions, config, imap_server, tmp_path, at=T0 + timedelta(hours=1)).counts["reply"] == 2
    assert {n for *_, n in _left(sessions, ("alicehost", "bobhost"))} == {"alicehost", "bobhost"}

    alice_ref = _ref_of(sessions, ALICE)
    e = forget(sessions, alice_ref, actor="dpo", at=T0 + timedelta(days=1))
    assert e.mail_ids == 2  # the opening mail's and the reply's
    assert _left(sessions, ("alicehost", "alice.zyxwv")) == []
    with sessions() as s:
        (audit,) = s.scalars(select(Transition).where(Transition.entity == "customer")).all()
        assert audit.data["mail_ids"] == 2
        (bobs,) = s.scalars(select(Complaint.id).where(Complaint.extra["message_id"].as_string() == bob_open))
    assert forget(sessions, alice_ref, actor="dpo", at=T0 + timedelta(days=2)).mail_ids == 0
    imap_server.append(msg(BOB, "<3.bob@bobhost.example>", bob_reply))
    report = poll(sessions, config, imap_server, tmp_path, at=T0 + timedelta(days=3))
    assert [(r.outcome, r.complaint_id) for r in report.results] == [("reply", bobs)]
