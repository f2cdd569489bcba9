"""Dashboard access: the API's rules, as pages (sign-in redirect, 403 page, never JSON or a traceback)."""

from __future__ import annotations

import html
import re

from sqlalchemy import select

from models.tables import Task


def _task_ids(web, department):
    with web.app.sessions() as s:
        return list(s.scalars(select(Task.id).where(Task.department == department).order_by(Task.id)))


def test_signed_out_pages_redirect_to_signin_with_the_way_back(web, complaints):
    c = web.client()
    for path in ("/", "/overview", "/queue/operations", f"/complaints/{complaints[0]}"):
        r = c.get(path)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/signin")
    assert c.get("/overview").headers["location"] == "/signin?next=%2Foverview"
    page = c.get("/signin?next=%2Foverview")
    assert 'name="next" value="/overview"' in page.text


def test_signin_sets_a_strict_httponly_session_cookie_and_lands_on_the_role_home(web):
    c = web.client()
    page = c.get("/signin")
    from tests.web.conftest import csrf_of
    r = c.post("/signin", data={"csrf": csrf_of(page.text), "token": web.tokens["member"]})
    assert r.status_code == 303 and r.headers["location"] == "/queue/operations"
    cookie = [h for h in r.headers.get_list("set-cookie") if h.startswith("closeloop_session=")][0].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    bad = web.client()
    page = bad.get("/signin")
    r = bad.post("/signin", data={"csrf": csrf_of(page.text), "token": "cl_not-a-token"})
    assert r.status_code == 401 and 'id="signin-error"' in r.text
    assert "closeloop_session" not in r.headers.get("set-cookie", "")


def test_member_sees_only_its_own_department(web, complaints):
    c = web.signin("member")
    own = c.get("/queue/operations")
    assert own.status_code == 200
    for tid in _task_ids(web, "operations"):
        assert f'id="task-{tid}"' in own.text
    other = c.get("/queue/service")
    assert other.status_code == 403
    assert "text/html" in other.headers["content-type"]
    assert "operations" in other.text and "service" in other.text and 'id="task-' not in other.text
    assert c.get("/overview").status_code == 403
    # complaints: one its department touches, one it does not (product -> service only)
    assert c.get(f"/complaints/{complaints[0]}").status_code == 200
    denied = c.get(f"/complaints/{complaints[2]}")
    assert denied.status_code == 403 and "Payday" not in denied.text
    # its own queue when it asks for "a" queue; the selector cannot take it elsewhere
    assert c.get("/queue?department=service").headers["location"] == "/queue/operations"


def test_member_cannot_act_on_another_departments_task(web, complaints):
    c = web.signin("member")
    page = c.get("/queue/operations")
    from tests.web.conftest import csrf_of
    product_task = _task_ids(web, "product")[0]
    r = c.post(f"/tasks/{product_task}/acknowledge", data={"csrf": csrf_of(page.text), "version": "1"})
    assert r.status_code == 403
    with web.app.sessions() as s:
        assert s.get(Task, product_task).status != "acknowledged"


def test_manager_opens_every_queue_and_the_overview(web, complaints):
    c = web.signin("manager")
    assert c.get("/").headers["location"] == "/overview"
    for dept in ("operations", "product", "service", "triage"):
        r = c.get(f"/queue/{dept}")
        assert r.status_code == 200, dept
        assert 'id="dept-select"' in r.text
    assert c.get("/queue?department=product").headers["location"] == "/queue/product"
    ov = c.get("/overview")
    assert ov.status_code == 200 and 'id="departments"' in ov.text and "<svg" in ov.text
    assert c.get(f"/complaints/{complaints[2]}").status_code == 200
    assert c.get("/queue/nowhere").status_code == 404


def test_admin_has_no_dashboard_and_errors_are_pages(web, complaints):
    admin = web.signin("admin")
    assert admin.get("/").status_code == 403
    assert admin.get("/queue/operations").status_code == 403
    manager = web.signin("manager")
    missing = manager.get("/complaints/999999")
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
    assert "Traceback" not in missing.text
    bad = manager.get("/complaints/not-a-number")
    assert bad.status_code == 422 and "text/html" in bad.headers["content-type"]


def test_revoked_token_signs_the_browser_out(web, complaints):
    from closeloop.services.people.tokens import list_tokens, revoke_token

    c = web.signin("member")
    assert c.get("/queue/operations").status_code == 200
    tid = next(t.id for t in list_tokens(web.app.sessions) if t.name == "member")
    revoke_token(web.app.sessions, tid, at=web.app.clock.now())
    r = c.get("/queue/operations")
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")


def test_no_open_redirect_and_no_framing(web, complaints):
    from tests.web.conftest import csrf_of

    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        c = web.client()
        page = c.get("/signin", params={"next": target})
        assert '<input type="hidden" name="next" value="">' in page.text  # the sign-in form drops it
        r = c.post("/signin", data={"csrf": csrf_of(page.text), "token": web.tokens["member"], "next": target})
        assert r.headers["location"] == "/queue/operations", target
        r = c.post("/language", data={"csrf": csrf_of(c.get("/queue/operations").text), "lang": "zh", "next": target})
        assert r.headers["location"] == "/", target
    page = web.signin("manager").get("/overview")
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


def test_a_refused_page_names_the_roles_that_may_open_it(web, complaints):
    """``/compensation`` told a member it was "for the operations manager", though an admin approves there too;
    each refusal names its own page's roles, in the reader's language."""
    def message(client, url: str) -> str:
        r = client.get(url)
        assert r.status_code == 403, r.text
        return html.unescape(re.search(r'id="error-message">(.*?)</div>', r.text, re.S).group(1))

    member = web.signin("member")
    assert message(member, "/compensation") == "This page is for these roles: operations manager, admin."
    assert message(member, "/overview") == "This page is for these roles: operations manager."
    admin = web.signin("admin")
    assert message(admin, "/queue/operations") == "This page is for these roles: member, lead, operations manager."
    assert web.signin("admin").get("/compensation").status_code == 200
    lead = web.signin("lead")  # Chinese
    assert message(lead, "/compensation") == "此页面仅供以下角色使用：运营经理、管理员。"
