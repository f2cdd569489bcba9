"""PostgreSQL and SQLite accept and refuse the same input (tester's findings, pg6): a very long word is taken in
(the search document fits ``tsvector``), a long number searched is no complaint's id, and an inbound mail whose
taking in fails is quarantined, never lost. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
import csv
import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from closeloop.cli import app as cli_app
from closeloop.domain.search_text import MAX_DOC_BYTES, MAX_TERM_BYTES, fit_document
from closeloop.services.inbound import process as inbound_process
from closeloop.settings import Settings
from models.tables import Complaint, ComplaintSearch, InboundMail, MailQuarantine
from tests.api.test_api_inbound import post_mail, raw_mail

#: one "word" each (the search splits on anything but letters and digits): 2,048 bytes and more
LONG_WORDS = {
    "a_2048": "a" * 2048,
    "base64_2400": base64.b64encode(bytes(range(256)) * 7).decode()[:2400].replace("+", "x").replace("/", "y"),
    "url_2500": "https://example.org/" + "p" * 2480,
    "cyrillic_1024": "ж" * 1024,  # 2,048 bytes in UTF-8: the limit is in bytes
    "cjk_in_word": "é" * 700 + "x" * 700,  # 2,100 bytes
}


def _complaint(ref: str, text: str) -> dict:
    return {"external_ref": ref, "received_at": "2026-03-01T10:00:00Z", "category": "Credit reporting",
            "text": f"my report is wrong {text} please fix"}


@pytest.mark.parametrize("name", list(LONG_WORDS))
def test_a_complaint_with_one_very_long_word_is_taken_in_and_found(api, name):
    word = LONG_WORDS[name]
    r = api.post("manager", "/complaints", json=_complaint(f"LW-{name}", word))
    assert r.status_code == 201, r.text  # PostgreSQL: 500 "word is too long" before
    cid = r.json()["complaint"]["id"]
    found = api.get("manager", "/complaints", params={"q": word[:150]})
    assert found.status_code == 200 and cid in [c["id"] for c in found.json()["items"]]
    with api.app.sessions() as s:
        doc = s.scalar(select(ComplaintSearch.doc).where(ComplaintSearch.complaint_id == cid))
    assert max(len(t.encode()) for t in doc.split(" ")) <= MAX_TERM_BYTES and "report" in doc.split(" ")


def test_fit_document_cuts_long_terms_at_a_character_and_stops_at_the_total_limit():
    assert fit_document("short words stay") == "short words stay"
    cut = fit_document("x " + "ж" * 1100 + " y").split(" ")
    assert cut[0] == "x" and cut[1] == "ж" * 1023 and cut[2] == "y"  # 2,046 bytes: no character cut in two
    many = " ".join(f"{i:06d}" + "q" * 1994 for i in range(600))  # 600 terms of 2,000 bytes: 1.2 MB
    fitted = fit_document(many).split(" ")
    assert sum(len(t.encode()) for t in fitted) <= MAX_DOC_BYTES < sum(len(t) for t in many.split(" "))
    assert len(fitted) == MAX_DOC_BYTES // 2000


def test_import_takes_a_row_with_a_very_long_word(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "long.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["external_ref", "received_at", "customer_ref", "category", "text"])
        w.writerow(["IMP-1", "2026-03-01T10:00:00Z", "c1", "Credit reporting", "fine"])
        w.writerow(["IMP-2", "2026-03-01T10:00:00Z", "c2", "Credit reporting", "token " + LONG_WORDS["a_2048"]])
    res = CliRunner().invoke(cli_app, ["import", str(path), "--json"])
    assert res.exit_code == 0, res.output  # PostgreSQL: a traceback, nothing imported, before
    with engine.connect() as c:
        assert sorted(c.scalars(select(Complaint.external_ref))) == ["IMP-1", "IMP-2"]


def _mail_with_body(body: str, msgid: str) -> bytes:
    raw = raw_mail(msgid=msgid)
    return raw.replace(b"It stopped working after a week.", body.encode())


@pytest.fixture
def mail_api(api, tmp_path):
    """The API with attachments stored under ``tmp_path`` (the mails carry one)."""
    api.app.settings = Settings(database_url="sqlite://", attachment_dir=str(tmp_path / "att"))
    return api


def test_inbound_mail_with_a_very_long_word_becomes_a_complaint(mail_api):
    api = mail_api
    r = post_mail(api, _mail_with_body("see " + LONG_WORDS["url_2500"], "<long-1@example.org>"))
    assert r.status_code == 201 and r.json()["outcome"] == "complaint", r.text


def test_inbound_mail_whose_intake_fails_is_quarantined_not_lost(mail_api, monkeypatch):
    api = mail_api
    def broken(*a, **kw):
        raise RuntimeError("the search index refused it")

    monkeypatch.setattr("closeloop.services.intake.intake.index_complaints", broken)
    r = post_mail(api, raw_mail(msgid="<fails-1@example.org>"))
    assert r.status_code == 201, r.text  # a 500 and nothing stored before
    assert r.json()["outcome"] == "quarantined" and r.json()["reason"] == "intake_failed"
    with api.app.sessions() as s:
        mail = s.scalars(select(InboundMail)).one()
        assert s.scalar(select(MailQuarantine.raw).where(MailQuarantine.inbound_mail_id == mail.id))
    monkeypatch.undo()
    again = api.post("manager", "/inbound/email/reprocess", json={"all": True})
    assert again.status_code == 200 and again.json()["results"][0]["outcome"] == "complaint"


def test_a_failing_message_in_a_batch_leaves_the_others_taken_in(sessions, config, clock, monkeypatch, tmp_path):
    from closeloop.services.intake import intake as intake_mod

    real = intake_mod.index_complaints

    def picky(session, docs):
        if any("poison" in d["doc"].split(" ") for d in docs):
            raise RuntimeError("refused")
        real(session, docs)

    monkeypatch.setattr(intake_mod, "index_complaints", picky)
    raws = [_mail_with_body("fine one", "<b-1@example.org>"), _mail_with_body("poison", "<b-2@example.org>"),
            _mail_with_body("fine two", "<b-3@example.org>")]
    report = inbound_process.process_mail(sessions, config, raws, now=clock.now(), via=inbound_process.MailVia.IMAP,
                                          options=inbound_process.InboundOptions(tmp_path))
    assert [r.outcome for r in report.results] == ["complaint", "quarantined", "complaint"]


@pytest.mark.parametrize("q", ["2147483648", "99999999999", "[CL-2147483648]", "CL-99999999999",
                               "999999999999999999"])
def test_a_number_beyond_the_id_range_is_searched_as_text(api, q):
    r = api.post("manager", "/complaints", json=_complaint("NUM-1", f"account {q}"))
    assert r.status_code == 201
    found = api.get("manager", "/complaints", params={"q": q})
    assert found.status_code == 200, found.text  # PostgreSQL: 500 DataError (int4 overflow) before
    assert [c["external_ref"] for c in found.json()["items"]] == ["NUM-1"]
    assert api.get("manager", "/exports/complaints", params={"q": q}).status_code == 200


def test_the_cli_search_takes_a_number_beyond_the_id_range(engine, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli_app, ["complaints", "search", "2147483648", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["total"] == 0


def test_a_subject_token_beyond_the_id_range_makes_a_new_complaint(mail_api):
    api = mail_api
    r = post_mail(api, raw_mail(msgid="<tok-1@example.org>", subject="Re: [CL-9999999999] still broken"))
    assert r.status_code == 201 and r.json()["outcome"] == "complaint", r.text


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00Z", "1975-06-01T00:00:00Z", "1989-12-31T23:59:59Z"])
def test_received_at_before_1990_is_told_the_real_bounds(api, when):
    r = api.post("manager", "/complaints", json={**_complaint("OLD-1", "old"), "received_at": when})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["field"] == "received_at" and "1990-01-01T00:00:00Z" in err["message"], err
    assert "1970" not in err["message"]
    ok = api.post("manager", "/complaints", json={**_complaint("OLD-2", "old"), "received_at": "1990-01-01T00:00:00Z"})
    assert ok.status_code == 201, ok.text


def test_an_export_id_too_long_is_told_its_digits_and_the_rule():
    from integrations.exports import RowProblem
    from integrations.formats import CFPB

    row = {"Complaint ID": "9" * 26, "Date received": "2024-01-02", "Product": "Mortgage"}
    with pytest.raises(RowProblem) as exc:
        CFPB().parse(row)
    assert exc.value.column == "Complaint ID"
    assert "26 digits" in str(exc.value) and "up to 20 digits" in str(exc.value), str(exc.value)
