"""E-mail to a local Maildir (``CLOSELOOP_SMTP_URL=maildir://...``): a trial's customer mail on disk, once per
outbox row, readable by the standard library's ``mailbox``. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import mailbox
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from closeloop.clock import FixedClock
from closeloop.domain.customer import ContactPoint, CustomerProfile
from closeloop.services.engine.delivery import deliver_once
from closeloop.settings import Settings
from flows.deliver import describe_email, email_sender
from integrations.outbound import OutgoingMessage
from integrations.senders import RoutingSender
from integrations.senders.maildir import MaildirSender, maildir_path
from integrations.smtp import SmtpSender
from models.tables import Outbox

from .helpers import facts, intake

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York
MAIL = "lin@example.com"


def _profile(language: str = "en") -> CustomerProfile:
    return CustomerProfile("Lin", language, "America/New_York", (ContactPoint("email", MAIL, True, False),))


def _message(key: str = "customer:acknowledged:1", target: str = MAIL) -> OutgoingMessage:
    return OutgoingMessage(id=1, idempotency_key=key, channel="email", target=target, recipient="customer 1",
                           subject="[CL-1] We received your complaint", body="Hello <b>Lin</b>",
                           payload={"html": "<p>Hello &lt;b&gt;Lin&lt;/b&gt;</p>",
                                    "message_id": "<k1@closeloop.invalid>"})


def test_the_maildir_url_names_a_directory_and_refuses_anything_else():
    assert maildir_path("maildir://out/mail") == Path("out/mail")
    assert maildir_path("maildir:///var/mail/closeloop") == Path("/var/mail/closeloop")
    with pytest.raises(ValueError, match="CLOSELOOP_SMTP_URL: maildir:// needs a directory"):
        maildir_path("maildir://")
    with pytest.raises(ValueError, match="must start with maildir://"):
        maildir_path("file:///tmp/x")


def test_the_settings_pick_the_sender_and_serve_says_where_mail_goes(tmp_path):
    box = Settings(smtp_url=f"maildir://{tmp_path}/mail", smtp_from="care@example.org")
    sender = email_sender(box)
    assert isinstance(sender, MaildirSender) and sender.directory == tmp_path / "mail"
    assert describe_email(box) == (f"e-mail to customers: written to the Maildir {tmp_path / 'mail'} "
                                   "(nothing leaves this machine)")
    relay = Settings(smtp_url="smtp://relay.example.org:587")
    assert isinstance(email_sender(relay), SmtpSender)
    assert describe_email(relay) == "e-mail to customers: through the SMTP relay relay.example.org:587"
    assert email_sender(Settings(smtp_url="")) is None
    assert "not sent (CLOSELOOP_SMTP_URL is not set" in describe_email(Settings(smtp_url=""))
    with pytest.raises(ValueError, match=r"must start with smtp:// or smtps:// \(a relay\), or maildir://"):
        describe_email(Settings(smtp_url="mailto:care@example.org"))


def test_a_message_is_written_once_as_mime_a_mail_reader_opens(tmp_path):
    sender = MaildirSender(tmp_path / "mail", "care@example.org")
    first = asyncio.run(sender.send(_message()))
    again = asyncio.run(sender.send(_message()))  # a resend of the same row: an unknown outcome, a killed worker
    other = asyncio.run(sender.send(_message(key="customer:acknowledged:2")))
    assert (first.outcome, again.outcome, other.outcome) == ("delivered", "delivered", "delivered")
    box = mailbox.Maildir(tmp_path / "mail", create=False)
    mails = sorted(box, key=lambda m: m["Message-ID"])
    assert len(mails) == 2
    mail = mails[0]
    assert (mail["From"], mail["To"], mail["Message-ID"]) == ("care@example.org", MAIL, "<k1@closeloop.invalid>")
    assert mail["Subject"] == "[CL-1] We received your complaint"
    parsed = mailbox.MaildirMessage(mail)
    assert parsed.get_subdir() == "new" and not list((tmp_path / "mail" / "tmp").iterdir())
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in mail.walk()
             if not p.is_multipart()}
    assert parts["text/plain"].strip() == "Hello <b>Lin</b>"
    assert "&lt;b&gt;" in parts["text/html"]


def test_a_message_a_reader_has_seen_is_not_written_again(tmp_path):
    sender = MaildirSender(tmp_path / "mail", "care@example.org")
    asyncio.run(sender.send(_message()))
    box = mailbox.Maildir(tmp_path / "mail", create=False)
    (key,) = box.keys()
    seen = box[key]
    seen.set_subdir("cur")
    seen.add_flag("S")
    box[key] = seen  # a mail client moved it to cur/ and marked it read
    assert asyncio.run(sender.send(_message())).outcome == "delivered"
    assert len(box) == 1 and not list((tmp_path / "mail" / "new").iterdir())


def test_a_bad_target_fails_and_an_unwritable_directory_is_retried(tmp_path):
    sender = MaildirSender(tmp_path / "mail", "care@example.org")
    bad = asyncio.run(sender.send(_message(target="not-an-address")))
    assert (bad.outcome, bad.error) == ("failed", "e-mail target is not an address")
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the Maildir should be")
    result = asyncio.run(MaildirSender(blocked, "care@example.org").send(_message()))
    assert result.outcome == "retry" and result.error.startswith(f"Maildir write to {blocked} failed")


def test_the_acknowledgement_lands_in_the_maildir_once_when_delivery_runs_twice(sessions, config, tmp_path):
    (cid,) = intake(sessions, config, T0, [facts("M-1", T0, customer_ref="m", customer=_profile())])
    settings = Settings(smtp_url=f"maildir://{tmp_path}/mail", smtp_from="care@example.org")
    sender = RoutingSender({"email": email_sender(settings)})

    async def twice_at_once():
        return await asyncio.gather(deliver_once(sessions, sender, FixedClock(T0), worker="a"),
                                    deliver_once(sessions, sender, FixedClock(T0), worker="b"))

    asyncio.run(twice_at_once())
    asyncio.run(deliver_once(sessions, sender, FixedClock(T0 + timedelta(hours=1)), worker="c"))
    (mail,) = list(mailbox.Maildir(tmp_path / "mail", create=False))
    assert mail["To"] == MAIL and mail["Subject"].startswith(f"[CL-{cid}]")
    with sessions() as s:
        row = s.scalars(select(Outbox).where(Outbox.idempotency_key == f"customer:acknowledged:{cid}")).one()
    assert row.status == "delivered"


@pytest.mark.parametrize("where", ["missing/parents/mail", "existing"])
def test_the_folders_are_made_whatever_exists_already(tmp_path, where):
    """``maildir://out/mail`` on a checkout without ``out/``, or a directory that exists without the three
    folders: both were a ``retry`` on every attempt."""
    (tmp_path / "existing").mkdir()
    sender = MaildirSender(tmp_path / where, "care@example.org")
    assert asyncio.run(sender.send(_message())).outcome == "delivered"
    assert len(mailbox.Maildir(tmp_path / where, create=False)) == 1


def test_another_mail_under_a_reused_key_is_written_too(tmp_path):
    """A trial database made again beside an old Maildir reuses keys (complaint 1 again): the new customer's
    mail is not taken for the old one's."""
    sender = MaildirSender(tmp_path / "mail", "care@example.org")
    asyncio.run(sender.send(_message()))
    assert asyncio.run(sender.send(_message(target="someone.else@example.com"))).outcome == "delivered"
    assert sorted(m["To"] for m in mailbox.Maildir(tmp_path / "mail", create=False)) == [
        MAIL, "someone.else@example.com"]


def test_writers_of_one_row_at_once_leave_one_whole_mail(tmp_path):
    """Threads of one process (deliveries in flight) writing the same row shared a staging file: a reader could
    find an empty mail in new/. Each writer now stages its own copy."""
    sender = MaildirSender(tmp_path / "fresh" / "mail", "care@example.org")

    async def many():
        return await asyncio.gather(*(sender.send(_message()) for _ in range(20)))

    assert {r.outcome for r in asyncio.run(many())} == {"delivered"}
    (only,) = (tmp_path / "fresh" / "mail" / "new").iterdir()
    (mail,) = list(mailbox.Maildir(tmp_path / "fresh" / "mail", create=False))
    assert (mail["To"], mail["Message-ID"]) == (MAIL, "<k1@closeloop.invalid>") and only.stat().st_size > 200
    assert not list((tmp_path / "fresh" / "mail" / "tmp").iterdir())
