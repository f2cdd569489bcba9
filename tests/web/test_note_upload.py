"""Issue 14 §4 on the dashboard (SQLite and PostgreSQL): the complaint page's note form takes a file
(``multipart/form-data``), CSRF-protected like every form; the file is listed with who uploaded it and
downloads through the page's scoped link; a file over the cap comes back as a message naming the field."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from models.tables import Attachment, Message
from tests.web.conftest import csrf_of
from tests.web.test_complaint_work import _shown

PDF = b"%PDF-1.7 the signed statement"


def _note(c, cid: int, body: str, data: bytes, name: str = "statement.pdf", csrf: str | None = None):
    page = c.get(f"/complaints/{cid}").text
    return c.post(f"/complaints/{cid}/work/note", data={"csrf": csrf if csrf is not None else csrf_of(page),
                                                        "body": body}, files={"file": (name, data, "application/pdf")})


def test_a_note_with_a_file(web, complaints, tmp_path):
    web.app.settings = web.app.settings.model_copy(update={"attachment_dir": str(tmp_path / "att"),
                                                           "attachment_max_bytes": 1000})
    c = web.signin("member")
    cid = complaints[0]
    assert 'enctype="multipart/form-data"' in c.get(f"/complaints/{cid}").text
    r = _note(c, cid, "statement attached", PDF)
    assert _shown(c, r) == "ok: Note added."
    page = c.get(f"/complaints/{cid}").text
    m = re.search(r'<tr data-attachment="(\d+)" data-status="stored"><td>statement.pdf', page)
    assert m and "web:member (member@operations)" in page
    d = c.get(f"/complaints/{cid}/attachments/{m.group(1)}")
    assert d.status_code == 200 and d.content == PDF and d.headers["content-type"] == "application/pdf"
    with web.app.sessions() as s:
        row = s.get_one(Attachment, int(m.group(1)))
        assert s.get_one(Message, row.message_id).body == "statement attached"

    r = _note(c, cid, "too big", b"x" * 1001)
    assert _shown(c, r).startswith("err: ") and "(file)" in _shown(c, _note(c, cid, "too big", b"x" * 1001))
    assert _note(c, cid, "no csrf", PDF, csrf="forged").status_code == 403
    other = web.signin("member_product")
    assert _note(other, cid, "outside", PDF, csrf=csrf_of(other.get("/my").text)).status_code == 403
    with web.app.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Attachment)) == 1
        assert s.scalar(select(func.count()).select_from(Message).where(Message.body == "too big")) == 0


def test_a_note_without_a_file_still_works_as_multipart(web, complaints, tmp_path):
    web.app.settings = web.app.settings.model_copy(update={"attachment_dir": str(tmp_path / "att")})
    c = web.signin("manager")
    page = c.get(f"/complaints/{complaints[0]}").text
    r = c.post(f"/complaints/{complaints[0]}/work/note", data={"csrf": csrf_of(page), "body": "no file"},
               files={"file": ("", b"", "application/octet-stream")})
    assert _shown(c, r) == "ok: Note added."
    with web.app.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Attachment)) == 0
