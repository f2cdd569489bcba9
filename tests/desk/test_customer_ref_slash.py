"""Issue 14 §2: a customer ref containing "/" (e.g. ``ACME/0042``) works in ``GET /customers/{ref}`` (as is or
URL-encoded) and on the customer page, whose links encode it (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from tests.api.conftest import T0
from tests.integration.helpers import facts, intake
from tests.web.conftest import csrf_of

REF = "ACME/0042 长"


def test_a_ref_with_a_slash(api):
    (cid,) = intake(api.app.sessions, api.app.config, T0, [facts("SL-1", T0 - timedelta(hours=1),
                                                                 product="Credit reporting",
                                                                 category="Credit reporting", customer_ref=REF)])
    for path in ("/customers/ACME/0042 长", "/customers/ACME%2F0042%20%E9%95%BF"):
        r = api.get("manager", path)
        assert r.status_code == 200, (path, r.text)
        assert r.json()["ref"] == REF and [c["id"] for c in r.json()["complaints"]] == [cid]
    assert api.get("manager", "/customers/ACME/0043").status_code == 404
    assert api.get("member_service", "/customers/ACME/0042 长").status_code in (200, 403)

    browser = TestClient(api.client.app, follow_redirects=False)
    r = browser.post("/signin", data={"csrf": csrf_of(browser.get("/signin").text), "token": api.tokens["manager"],
                                      "next": ""})
    assert r.status_code == 303
    page = browser.get(f"/complaints/{cid}").text
    assert 'href="/customers/ACME%2F0042%20%E9%95%BF" id="customer-link"' in page
    assert 'href="/customers/ACME%2F0042%20%E9%95%BF" class="customer-link"' in browser.get("/complaints").text
    r = browser.get("/customers/ACME%2F0042%20%E9%95%BF")
    assert r.status_code == 200 and REF in r.text and f"/complaints/{cid}" in r.text
