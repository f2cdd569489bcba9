"""Issue 14: sign-out revokes the dashboard session server-side; failed sign-in and token attempts
are limited per client address (429 in the error shape, Retry-After), successful ones never."""

from __future__ import annotations

from fastapi.testclient import TestClient

from closeloop.api.app import create_app
from tests.web.conftest import csrf_of, web  # noqa: F401

SESSION = "closeloop_session"


def test_sign_out_kills_the_session_not_the_token(web):  # noqa: F811
    browser = web.signin("manager")
    stolen = browser.cookies.get(SESSION)
    assert stolen and stolen != web.tokens["manager"]  # the cookie holds a session, never the API token
    assert browser.get("/overview").status_code == 200
    page = browser.get("/overview").text
    assert browser.post("/signout", data={"csrf": csrf_of(page)}).status_code == 303
    thief = web.client()
    thief.cookies.set(SESSION, stolen)
    r = thief.get("/overview")
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")  # revoked server-side
    api = TestClient(web._api)
    me = api.get("/api/v1/me", headers={"Authorization": f"Bearer {web.tokens['manager']}"})
    assert me.status_code == 200  # the API token itself still works
    other = web.signin("manager")  # a second browser of the same token has its own session
    assert other.get("/overview").status_code == 200


def test_failed_token_attempts_are_limited_per_address(web):  # noqa: F811
    web.app.settings.auth_failure_limits = "3/minute"
    api = TestClient(create_app(web.app))
    good = {"Authorization": f"Bearer {web.tokens['manager']}"}
    for _ in range(5):
        assert api.get("/api/v1/me", headers=good).status_code == 200  # successes are not counted
    for i in range(3):
        r = api.get("/api/v1/me", headers={"Authorization": f"Bearer cl_guess{i}"})
        assert r.status_code == 401
    r = api.get("/api/v1/me", headers={"Authorization": "Bearer cl_guess4"})
    assert r.status_code == 429
    body = r.json()["error"]
    assert body["code"] == "too_many_requests" and set(body) == {"code", "message", "field", "details"}
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert api.get("/api/v1/me", headers=good).status_code == 429  # a right guess is not confirmed either
    elsewhere = TestClient(create_app(web.app), client=("203.0.113.9", 50000))
    assert elsewhere.get("/api/v1/me", headers=good).status_code == 200  # another address is not affected


def test_failed_sign_ins_are_limited_per_address(web):  # noqa: F811
    web.app.settings.auth_failure_limits = "2/minute"
    browser = TestClient(create_app(web.app), follow_redirects=False)
    csrf = csrf_of(browser.get("/signin").text)
    for _ in range(2):
        assert browser.post("/signin", data={"csrf": csrf, "token": "cl_wrong", "next": ""}).status_code == 401
    r = browser.post("/signin", data={"csrf": csrf, "token": web.tokens["manager"], "next": ""})
    assert r.status_code == 429 and "Too many failed sign-ins" in r.text and "Retry-After" in r.headers
    assert SESSION not in r.headers.get("set-cookie", "")
