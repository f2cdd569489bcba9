"""Issue 14 §4: files uploaded by staff on a complaint or its task (``POST /complaints/{id}/attachments``,
multipart): the inbound e-mail's content-addressed storage, size cap and sniffed type, the same scoped download,
an optional note with mentions in the same transaction, audited (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import func, select

from closeloop.services.people.users import create_user
from models.tables import Attachment, Mention, Message, Task, Transition
from tests.api.conftest import T0
from tests.integration.helpers import facts, intake

PNG = b"\x89PNG\r\n\x1a\n" + b"\x02" * 64


def _setup(api, tmp_path, cap: int = 10 * 1024 * 1024):
    api.app.settings = api.app.settings.model_copy(update={"attachment_dir": str(tmp_path / "att"),
                                                           "attachment_max_bytes": cap})
    return tmp_path / "att"


def _up(api, who, cid, data, name="photo.png", ctype="image/png", **fields):
    return api.post(who, f"/complaints/{cid}/attachments", files={"file": (name, data, ctype)},
                    data={k: str(v) for k, v in fields.items()})


def test_a_member_uploads_a_file_with_a_note_and_downloads_it(api, complaints, tmp_path):
    directory = _setup(api, tmp_path)
    a = complaints[0]  # operations investigates
    create_user(api.app.sessions, api.app.config, handle="li.na", name="Li Na", departments=["operations"],
                role="member", actor="t", at=T0)
    with api.app.sessions() as s:
        task = s.scalar(select(Task.id).where(Task.complaint_id == a, Task.department == "operations"))
    r = _up(api, "member", a, PNG, name="../../etc/截图.png", ctype="text/html", task_id=task,
            note="the statement, @li.na please check")
    assert r.status_code == 201, r.text
    out = r.json()
    digest = hashlib.sha256(PNG).hexdigest()
    assert out["sha256"] == digest and out["content_type"] == "image/png"  # sniffed, not the declared text/html
    assert out["declared_type"] == "text/html" and out["filename"] == "截图.png" and out["size"] == len(PNG)
    assert out["uploaded_by"] == "api:member (member@operations)" and out["task_id"] == task
    assert (directory / digest[:2] / digest).read_bytes() == PNG
    listed = api.get("lead", f"/complaints/{a}/attachments").json()
    assert [x["id"] for x in listed] == [out["id"]] and listed[0]["uploaded_by"].startswith("api:member")
    r = api.get("member", f"/complaints/{a}/attachments/{out['id']}")
    assert r.status_code == 200 and r.content == PNG and r.headers["content-disposition"].startswith("attachment")
    assert api.get("member_service", f"/complaints/{a}/attachments/{out['id']}").status_code in (200, 403)
    with api.app.sessions() as s:
        row = s.get(Attachment, out["id"])
        note = s.get(Message, row.message_id)
        audit = s.scalars(select(Transition).where(Transition.complaint_id == a, Transition.trigger == "attach")).all()
        mentioned = s.scalar(select(func.count()).select_from(Mention).where(Mention.message_id == note.id))
    assert row.inbound_mail_id is None and note.direction == "internal" and "@li.na" in note.body
    assert mentioned == 1
    assert len(audit) == 1 and audit[0].data["attachment"] == out["id"] and audit[0].data["sha256"] == digest
    assert audit[0].actor == "api:member (member@operations)" and audit[0].data["task"] == task


def test_the_same_file_twice_is_stored_once(api, complaints, tmp_path):
    directory = _setup(api, tmp_path)
    a, b, _ = complaints
    first = _up(api, "manager", a, b"%PDF-1.7 statement").json()
    second = _up(api, "manager", b, b"%PDF-1.7 statement", name="copy.pdf").json()
    assert first["sha256"] == second["sha256"] and first["id"] != second["id"]
    assert second["content_type"] == "application/pdf"
    assert len([p for p in directory.rglob("*") if p.is_file()]) == 1


def test_bad_uploads_write_nothing(api, complaints, tmp_path):
    directory = _setup(api, tmp_path, cap=100)
    a, _, c = complaints
    with api.app.sessions() as s:
        other_task = s.scalar(select(Task.id).where(Task.complaint_id == c))
    cases = [(dict(data=b"x" * 101), "file"), (dict(data=b""), "file"),
             (dict(data=PNG[:50], task_id=other_task), "task_id"),
             (dict(data=PNG[:50], note="for @nobody.here"), "body")]
    for kw, field in cases:
        data = kw.pop("data")
        r = _up(api, "manager", a, data, **kw)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (field, r.text)
    assert _up(api, "manager", a, PNG[:50], task_id=2_000_000_000).status_code == 404
    with api.app.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Attachment)) == 0
        assert s.scalar(select(func.count()).select_from(Message).where(Message.direction == "internal")) == 0
    assert not directory.exists() or not [p for p in directory.rglob("*") if p.is_file()]


def test_scope_and_roles(api, complaints, tmp_path):
    _setup(api, tmp_path)
    a = complaints[0]
    (lending,) = intake(api.app.sessions, api.app.config, T0, [facts("UP-L", T0 - timedelta(hours=1),
                                                                     product="Payday loan", category="Payday loan")])
    assert _up(api, "member", lending, PNG).status_code == 403  # outside operations
    assert _up(api, "member_service", lending, PNG).status_code == 201
    assert _up(api, "admin", a, PNG).status_code == 403
    assert api.client.post(f"/api/v1/complaints/{a}/attachments", files={"file": ("a", PNG)}).status_code == 401
    r = api.post("manager", f"/complaints/{a}/attachments", data={"note": "no file"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "file"


def test_an_upload_over_the_request_limit_is_a_413_before_the_route(api, complaints, tmp_path):
    _setup(api, tmp_path)
    big = b"x" * (api.app.settings.attachment_max_bytes + 128 * 1024)
    r = _up(api, "manager", complaints[0], big)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    # a file above the general 1 MiB body limit but under the attachment cap is taken
    r = _up(api, "manager", complaints[0], b"%PDF" + b"y" * (1 << 20))
    assert r.status_code == 201, r.text
