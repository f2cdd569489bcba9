"""Issue 13: the complaint page lists the attachments (name escaped, sniffed type, size) with download links
that follow the complaint page's access (SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.integration.attach import attach

PNG = b"\x89PNG\r\n\x1a\n" + b"\x02" * 2000
EVIL = "<img src=x onerror=alert(1)>.png"


def test_the_complaint_page_lists_attachments_and_downloads_them_in_scope(web, complaints, tmp_path):
    web.app.settings = web.app.settings.model_copy(update={"attachment_dir": str(tmp_path / "att")})
    cid = complaints[0]  # credit reporting: operations, then service
    ok, refused = attach(web.app.sessions, tmp_path / "att", cid, (PNG, EVIL, "application/pdf"),
                         (b"y" * 5000, "scan.tiff", "image/tiff"), cap=4096)
    c = web.signin("member")
    page = c.get(f"/complaints/{cid}").text
    assert 'id="attachments"' in page and EVIL not in page and "&lt;img src=x onerror=alert(1)&gt;.png" in page
    assert f'href="/complaints/{cid}/attachments/{ok}" download' in page
    assert "image/png" in page and "declared application/pdf" in page and "2.0 KB" in page
    assert f'/attachments/{refused}"' not in page and "not stored: larger than the size cap" in page
    r = c.get(f"/complaints/{cid}/attachments/{ok}")
    assert r.status_code == 200 and r.content == PNG and r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["content-type"] == "image/png" and r.headers["x-content-type-options"] == "nosniff"
    assert c.get(f"/complaints/{cid}/attachments/{refused}").status_code == 404

    outsider = web.signin("member_product")  # the credit-reporting complaint has no product task
    r = outsider.get(f"/complaints/{cid}/attachments/{ok}")
    assert r.status_code == 403 and r.content != PNG
    assert web.client().get(f"/complaints/{cid}/attachments/{ok}").status_code in (303, 401)  # not signed in

    zh = web.signin("lead")  # a Chinese token
    page = zh.get(f"/complaints/{cid}").text
    assert "附件" in page and "未保存：超过大小上限" in page and "下载" in page


def test_a_complaint_without_attachments_says_so(web, complaints):
    page = web.signin("manager").get(f"/complaints/{complaints[1]}").text
    assert 'id="attachments-none"' in page and "No attachments." in page
