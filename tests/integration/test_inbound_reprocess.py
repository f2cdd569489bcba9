"""Issue 13: quarantined mail is counted and can be run through the intake again after a fix (here: a
character set made known), idempotently; still-unreadable mail stays quarantined with the new reason
(a real dovecot IMAP server; SQLite and PostgreSQL)."""

from __future__ import annotations

import codecs
from datetime import timedelta

import pytest
from sqlalchemy import select

from closeloop.services.inbound import InboundOptions
from closeloop.services.inbound.reprocess import quarantine_list, reprocess
from models.tables import InboundMail, MailQuarantine, Message

from .imap_server import imap_server  # noqa: F401 - fixture
from .test_inbound_mail import ALICE, T0, count, email_complaints, mail, poll

CHARSET = "x-closeloop-legacy"


def _odd_charset(msgid: str, text: bytes = b"\xa4\xa4 the meter reads wrong") -> bytes:
    return (f"From: Alice <{ALICE}>\r\nSubject: meter\r\nMessage-ID: <{msgid}@example.org>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset={CHARSET}\r\n\r\n").encode() + text + b"\r\n"


BROKEN = (b"From: alice.zyxwv@example.org\r\nSubject: broken\r\nMessage-ID: <broken-r@example.org>\r\n"
          b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\nno boundary at all\r\n")


@pytest.fixture
def legacy_charset():
    """The fix: a codec for the unknown character set (latin-1 under another name), removed afterwards."""
    def search(name):
        return codecs.lookup("latin-1") if name.replace("_", "-") == CHARSET else None

    codecs.register(search)
    yield
    codecs.unregister(search)


def test_quarantined_mail_is_reprocessed_after_a_fix_once_and_the_rest_keeps_its_new_reason(
        sessions, config, imap_server, tmp_path, request):  # noqa: F811
    imap_server.append(_odd_charset("odd-1"), BROKEN)
    report = poll(sessions, config, imap_server, tmp_path)
    assert (report.counts["quarantined"], report.counts["quarantined:unknown_charset"]) == (2, 1)
    listed = quarantine_list(sessions)
    assert [r["reason"] for r in listed] == ["unknown_charset", "malformed_mime"]
    odd, broken = (r["id"] for r in listed)
    options = InboundOptions(tmp_path / "attachments")

    before = reprocess(sessions, config, now=T0 + timedelta(hours=1), options=options)  # nothing fixed yet
    assert before.counts["reprocessed"] == 2 and before.counts["quarantined"] == 2
    assert email_complaints(sessions) == [] and count(sessions, MailQuarantine) == 2
    # the list shows when each arrived, which reprocessing keeps, beside the last processing it moved
    assert [(r["received_at"], r["processed_at"]) for r in quarantine_list(sessions)] == [
        (T0, T0 + timedelta(hours=1))] * 2
    with sessions() as s:  # an older reading's reason is replaced by this reading's
        s.execute(InboundMail.__table__.update().where(InboundMail.id == broken).values(reason="no_sender"))
        s.commit()

    request.getfixturevalue("legacy_charset")
    at = T0 + timedelta(hours=2)
    report = reprocess(sessions, config, now=at, options=options)
    assert (report.counts["reprocessed"], report.counts["complaint"], report.counts["quarantined"]) == (2, 1, 1)
    (c,) = email_complaints(sessions)
    with sessions() as s:
        row = s.get(InboundMail, odd)
        assert (row.outcome, row.complaint_id, row.processed_at, row.via) == ("complaint", c.id, at, "imap")
        assert s.get(MailQuarantine, odd) is None
        assert "¤¤ the meter reads wrong" in s.scalar(select(Message.body).where(Message.complaint_id == c.id))
        assert (s.get(InboundMail, broken).outcome, s.get(InboundMail, broken).reason) == (
            "quarantined", "malformed_mime")
        assert s.get(MailQuarantine, broken).raw == BROKEN

    again = reprocess(sessions, config, now=at + timedelta(hours=1), options=options, ids=[odd, broken, 999_999])
    assert (again.counts["not_quarantined"], again.counts["not_found"], again.counts["reprocessed"]) == (1, 1, 1)
    assert again.not_found == [999_999]  # no such inbound mail: told apart from one not (or no longer) quarantined
    assert len(email_complaints(sessions)) == 1  # reprocessed twice: one complaint

    # the message again from the mailbox (same Message-ID): a duplicate of the reprocessed one
    imap_server.append(_odd_charset("odd-1"))
    assert poll(sessions, config, imap_server, tmp_path, at=at + timedelta(hours=2)).counts["duplicate"] == 1
    assert len(email_complaints(sessions)) == 1


def test_a_quarantined_message_taken_in_meanwhile_is_recorded_a_duplicate(
        sessions, config, imap_server, tmp_path, request):  # noqa: F811
    imap_server.append(_odd_charset("twice"))
    poll(sessions, config, imap_server, tmp_path)
    resent = mail(subject="meter", body="the meter reads wrong")  # the customer's client resends it readable
    resent.replace_header("Message-ID", "<twice@example.org>")
    imap_server.append(bytes(resent))
    assert poll(sessions, config, imap_server, tmp_path, at=T0 + timedelta(minutes=5)).counts["complaint"] == 1
    request.getfixturevalue("legacy_charset")
    report = reprocess(sessions, config, now=T0 + timedelta(hours=1), options=InboundOptions(tmp_path / "a"))
    assert (report.counts["ignored"], report.counts["ignored:duplicate"]) == (1, 1)
    assert len(email_complaints(sessions)) == 1 and count(sessions, MailQuarantine) == 0


def test_cli_reprocess_and_the_poll_output_counts_quarantined_and_ignored(
        imap_server, tmp_path, monkeypatch, legacy_charset):  # noqa: F811
    import json

    from typer.testing import CliRunner

    from closeloop.cli import app

    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("CLOSELOOP_ATTACHMENT_DIR", str(tmp_path / "att"))
    monkeypatch.setenv("CLOSELOOP_IMAP_URL", imap_server.url)
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"], catch_exceptions=False).exit_code == 0
    imap_server.append(bytes(mail()))
    res = runner.invoke(app, ["mail", "poll"], catch_exceptions=False)
    assert res.exit_code == 0 and "ignored 0" in res.output and "quarantined 0" in res.output
    imap_server.append(BROKEN, bytes(mail(Auto_Submitted="auto-replied")))
    res = runner.invoke(app, ["mail", "poll", "--json"], catch_exceptions=False)
    counts = json.loads(res.output)
    assert (counts["quarantined"], counts["ignored"], counts["ignored:auto_submitted"]) == (1, 1, 1)
    res = runner.invoke(app, ["mail", "quarantined"], catch_exceptions=False)
    assert res.exit_code == 0 and "malformed_mime" in res.output and ALICE not in res.output
    assert "received 20" in res.output and "processed 20" in res.output
    mail_id = int(res.output.split()[0])
    res = runner.invoke(app, ["mail", "reprocess"])
    assert res.exit_code == 2 and "--id" in res.output and "not both" not in res.output  # --id or --all
    res = runner.invoke(app, ["mail", "reprocess", "--id", "9999"], catch_exceptions=False)
    assert res.exit_code == 1 and "not found" in res.output and "9999" in res.output
    assert "not_quarantined" not in res.output
    res = runner.invoke(app, ["mail", "reprocess", "--id", str(mail_id), "--json"], catch_exceptions=False)
    assert res.exit_code == 0 and json.loads(res.output)["quarantined:malformed_mime"] == 1
    res = runner.invoke(app, ["mail", "reprocess", "--id", str(mail_id), "--id", "9999"], catch_exceptions=False)
    assert res.exit_code == 0 and "reprocessed 1" in res.output and "not_found 1" in res.output
    assert "no inbound mail with id 9999" in res.output  # the one not found is named; the known one was done
    res = runner.invoke(app, ["mail", "reprocess", "--all"], catch_exceptions=False)
    assert res.exit_code == 0 and "reprocessed 1" in res.output
