"""Issue 13: downloading a complaint's attachments through the API: scoped like the complaint, always a
download (``Content-Disposition: attachment``), the sniffed type only when safe (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

from closeloop.services.customers.profiles import forget
from tests.integration.attach import attach
from tests.integration.helpers import facts, intake

from .conftest import T0

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 40
PAGE = b"<html><body><script>alert(document.cookie)</script></body></html>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00"


def _complaint(api, product: str, ref: str = "att-1") -> int:
    return intake(api.app.sessions, api.app.config, T0, [facts(f"A-{ref}-{product}", T0 - timedelta(hours=1),
                                                               product=product, category=product,
                                                               customer_ref=ref)])[0]


def _setup(api, tmp_path):
    api.app.settings = api.app.settings.model_copy(update={"attachment_dir": str(tmp_path / "att")})
    return tmp_path / "att"


def test_download_serves_the_file_as_an_attachment_with_a_safe_type(api, tmp_path):
    directory = _setup(api, tmp_path)
    cid = _complaint(api, "Credit reporting")
    png, page, svg, exe, big, unnamed = attach(
        api.app.sessions, directory, cid, (PNG, "损坏 照片.png", "image/png"),
        (PAGE, 'invoice".html\r\nX-Evil: 1', "text/html"), (SVG, "logo.svg", "image/svg+xml"),
        (EXE, "setup.exe", "application/x-msdownload"), (b"x" * 300, "huge.bin", "application/octet-stream"),
        (PNG, "", "image/png"), cap=200)
    r = api.get("member", f"/complaints/{cid}/attachments/{png}")
    assert r.status_code == 200 and r.content == PNG
    assert r.headers["content-type"] == "image/png" and r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-disposition"] == (
        f"attachment; filename=\"__ __.png\"; filename*=UTF-8''{quote('损坏 照片.png', safe='')}")
    assert "sandbox" in r.headers["content-security-policy"]

    r = api.get("member", f"/complaints/{cid}/attachments/{page}")  # HTML never served as HTML
    assert r.status_code == 200 and r.content == PAGE
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["content-disposition"].startswith('attachment; filename="invoice_.htmlX-Evil_ 1"')
    assert "\r" not in r.headers["content-disposition"] and "x-evil" not in r.headers
    for risky in (svg, exe):  # SVG sniffs as text (served text/plain), a program as bytes
        r = api.get("member", f"/complaints/{cid}/attachments/{risky}")
        assert r.status_code == 200 and r.headers["content-type"] in ("text/plain; charset=utf-8",
                                                                      "application/octet-stream")
        assert "html" not in r.headers["content-type"] and "svg" not in r.headers["content-type"]
    assert api.get("member", f"/complaints/{cid}/attachments/{exe}").headers["content-type"] == \
        "application/octet-stream"
    r = api.get("member", f"/complaints/{cid}/attachments/{unnamed}")
    assert r.headers["content-disposition"].startswith(f'attachment; filename="attachment-{unnamed}"')

    refused = api.get("member", f"/complaints/{cid}/attachments/{big}")
    assert refused.status_code == 404 and "too_large" in refused.json()["error"]["message"]
    listed = api.get("member", f"/complaints/{cid}/attachments").json()
    assert [a["id"] for a in listed] == [png, page, svg, exe, big, unnamed]


def test_download_is_scoped_like_the_complaint_and_404_off_it_or_after_erasure(api, tmp_path):
    directory = _setup(api, tmp_path)
    ops, lending = _complaint(api, "Credit reporting", "s-1"), _complaint(api, "Payday loan", "s-2")
    (a_ops,) = attach(api.app.sessions, directory, ops, (PNG, "a.png", "image/png"))
    (a_lending,) = attach(api.app.sessions, directory, lending, (PNG, "b.png", "image/png"))
    assert api.get("member", f"/complaints/{lending}/attachments/{a_lending}").status_code == 403  # another dept
    assert api.get("member_service", f"/complaints/{lending}/attachments/{a_lending}").status_code == 200
    assert api.get("admin", f"/complaints/{ops}/attachments/{a_ops}").status_code == 403  # admin: no complaints
    # an attachment of another complaint through a complaint the caller may see: 404, never the file
    r = api.get("member_service", f"/complaints/{ops}/attachments/{a_lending}")
    assert r.status_code == 404 and r.content != PNG
    assert api.get("manager", f"/complaints/{ops}/attachments/999999").status_code == 404
    assert api.client.get(f"/api/v1/complaints/{ops}/attachments/{a_ops}").status_code == 401

    forget(api.app.sessions, "s-1", actor="dpo", at=T0, attachment_dir=directory)
    assert api.get("manager", f"/complaints/{ops}/attachments/{a_ops}").status_code == 404
    assert api.get("manager", f"/complaints/{lending}/attachments/{a_lending}").content == PNG  # shared file kept
