"""Issue 13, part 3: the inbound e-mail webhook (the same processing as the IMAP poll) and a complaint's
attachments through the API (SQLite and PostgreSQL)."""

from __future__ import annotations

from email.message import EmailMessage

from sqlalchemy import select

from closeloop.settings import Settings
from models.tables import Complaint

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def raw_mail(msgid: str = "<hook-1@example.org>", subject: str = "Broken kettle", **headers: str) -> bytes:
    m = EmailMessage()
    m["From"] = "Wang <wang@example.org>"
    m["Subject"] = subject
    m["Message-ID"] = msgid
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    m.set_content("It stopped working after a week.")
    m.add_attachment(PNG, maintype="application", subtype="octet-stream", filename="kettle.bin")
    return bytes(m)


def post_mail(api, raw: bytes, who: str = "manager", media: str = "message/rfc822"):
    return api.client.post("/api/v1/inbound/email", content=raw,
                           headers={**api.h(who), "Content-Type": media})


def test_webhook_takes_a_mail_in_once_and_lists_its_attachments(api, tmp_path):
    api.app.settings = Settings(database_url="sqlite://", attachment_dir=str(tmp_path / "att"))
    r = post_mail(api, raw_mail())
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["outcome"], body["duplicate"]) == ("complaint", False)
    cid = body["complaint_id"]
    with api.app.sessions() as s:
        c = s.get(Complaint, cid)
        assert c is not None and (c.source, c.channel) == ("email", "email")
    again = post_mail(api, raw_mail())
    assert again.status_code == 200 and again.json()["duplicate"] is True
    # a retry learns what its first delivery did (it answered complaint_id null: the client lost the complaint)
    assert (again.json()["outcome"], again.json()["complaint_id"]) == ("complaint", cid)
    with api.app.sessions() as s:
        assert len(s.scalars(select(Complaint.id).where(Complaint.source == "email")).all()) == 1
    listed = api.get("manager", f"/complaints/{cid}/attachments")
    assert listed.status_code == 200, listed.text
    (a,) = listed.json()
    assert (a["filename"], a["content_type"], a["declared_type"], a["status"], a["size"]) == (
        "kettle.bin", "image/png", "application/octet-stream", "stored", len(PNG))


def test_webhook_ignores_auto_replies_quarantines_garbage_and_checks_media_type_and_role(api, tmp_path):
    api.app.settings = Settings(database_url="sqlite://", attachment_dir=str(tmp_path / "att"))
    auto = post_mail(api, raw_mail("<auto-1@example.org>", Auto_Submitted="auto-replied"))
    assert auto.status_code == 201 and (auto.json()["outcome"], auto.json()["reason"]) == ("ignored", "auto_submitted")
    bad = post_mail(api, b"From: x@example.org\r\nContent-Type: text/plain; charset=nope-8\r\n\r\n\xff\r\n")
    assert bad.status_code == 201 and (bad.json()["outcome"], bad.json()["reason"]) == (
        "quarantined", "unknown_charset")
    assert post_mail(api, raw_mail(), media="application/json").status_code == 415
    assert post_mail(api, raw_mail(), who="member").status_code == 403
    with api.app.sessions() as s:
        assert s.scalars(select(Complaint.id).where(Complaint.source == "email")).all() == []


def test_webhook_posts_in_a_row_thread_the_answer_onto_the_complaint_the_first_made(api, tmp_path):
    """A provider posts one message per request: the second, answering the first (In-Reply-To), finds the
    complaint the first created through the stored Message-ID key."""
    api.app.settings = Settings(database_url="sqlite://", attachment_dir=str(tmp_path / "att"))
    first = post_mail(api, raw_mail("<row-1@example.org>"))
    second = post_mail(api, raw_mail("<row-2@example.org>", subject="Re: Broken kettle",
                                     In_Reply_To="<row-1@example.org>"))
    assert first.status_code == second.status_code == 201
    assert (second.json()["outcome"], second.json()["reason"]) == ("reply", "headers")
    assert second.json()["complaint_id"] == first.json()["complaint_id"]
    with api.app.sessions() as s:
        assert len(s.scalars(select(Complaint.id).where(Complaint.source == "email")).all()) == 1


def test_quarantined_and_ignored_mail_is_counted_in_metrics_and_reprocessed_by_a_manager(api, tmp_path):
    import codecs

    api.app.settings = Settings(database_url="sqlite://", attachment_dir=str(tmp_path / "att"))
    odd = (b"From: x@example.org\r\nMessage-ID: <odd-api@example.org>\r\n"
           b"Content-Type: text/plain; charset=x-api-odd\r\n\r\n\xa4 dial\r\n")
    assert post_mail(api, odd).json()["outcome"] == "quarantined"
    assert post_mail(api, raw_mail("<auto-m@example.org>", X_Autoreply="yes")).json()["outcome"] == "ignored"
    assert post_mail(api, raw_mail("<new-m@example.org>")).json()["outcome"] == "complaint"
    text = api.client.get("/metrics").text
    assert 'closeloop_inbound_mail_last_hour{outcome="quarantined"} 1.0' in text
    assert 'closeloop_inbound_mail_last_hour{outcome="ignored"} 1.0' in text
    assert 'closeloop_inbound_mail_last_hour{outcome="reply"} 0.0' in text
    assert 'closeloop_inbound_mail_by_reason_last_hour{outcome="quarantined",reason="unknown_charset"} 1.0' in text
    assert 'closeloop_inbound_mail_by_reason_last_hour{outcome="ignored",reason="x_autoreply"} 1.0' in text
    assert "closeloop_mail_quarantine_messages 1.0" in text

    assert api.post("member", "/inbound/email/reprocess", json={"all": True}).status_code == 403
    bad = api.post("manager", "/inbound/email/reprocess", json={"all": True, "ids": [1]})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "ids"
    assert "not both" in bad.json()["error"]["message"]
    neither = api.post("manager", "/inbound/email/reprocess", json={})
    assert neither.status_code == 422 and neither.json()["error"]["field"] == "ids"
    assert "not both" not in neither.json()["error"]["message"] and "all=true" in neither.json()["error"]["message"]
    unknown = api.post("manager", "/inbound/email/reprocess", json={"ids": [999999]})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "ids"
    assert "no inbound mail with id 999999" in unknown.json()["error"]["message"]
    still = api.post("manager", "/inbound/email/reprocess", json={"all": True})
    assert still.status_code == 200 and still.json()["counts"]["quarantined:unknown_charset"] == 1

    def search(name):
        return codecs.lookup("latin-1") if name == "x_api_odd" else None  # names come lower-case, - as _

    codecs.register(search)
    try:
        fixed = api.post("manager", "/inbound/email/reprocess", json={"all": True})
        twice = api.post("manager", "/inbound/email/reprocess", json={"all": True})
    finally:
        codecs.unregister(search)
    assert fixed.status_code == 200 and fixed.json()["counts"] == {"complaint": 1, "reprocessed": 1}
    assert [r["outcome"] for r in fixed.json()["results"]] == ["complaint"]
    assert twice.json()["counts"] == {}
    assert "closeloop_mail_quarantine_messages 0.0" in api.client.get("/metrics").text
    with api.app.sessions() as s:
        assert len(s.scalars(select(Complaint.id).where(Complaint.source == "email")).all()) == 2
