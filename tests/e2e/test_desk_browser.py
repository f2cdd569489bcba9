"""Issue 14 in a real browser (headless Chromium via Playwright, as ``test_dashboard_browser.py``):

- ``/api/v1/docs`` renders with the network cut off: every request that leaves 127.0.0.1 is
  aborted and recorded (none may be made), and DNS resolves nothing but the local server;
- a member searches from the header box (real NYC 311 rows), opens a result; signing out
  ends the session server-side (the old cookie no longer opens a page).

Screenshots land in ``test-artifacts/dashboard/``.
"""

from __future__ import annotations

from contextlib import contextmanager

from tests.e2e.test_dashboard_browser import _shot, _signin, chromium, served  # noqa: F401

OFFLINE_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]


@contextmanager
def _offline_browser(chromium_path: str):
    """A headless Chromium whose DNS resolves nothing but 127.0.0.1 (closed on exit)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=OFFLINE_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _cut_off(context, base: str) -> list[str]:
    """Abort every request not to ``base``; returns the list the aborted URLs are appended to."""
    outside: list[str] = []

    def handle(route):
        if route.request.url.startswith(base):
            return route.continue_()
        outside.append(route.request.url)
        return route.abort("internetdisconnected")

    context.route("**/*", handle)
    return outside


def test_api_docs_render_without_a_network(chromium, served):  # noqa: F811
    base, _ = served
    with _offline_browser(chromium) as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        outside = _cut_off(context, base)
        page = context.new_page()
        page.goto(base + "/api/v1/docs")
        page.wait_for_selector(".swagger-ui .opblock-summary-path", timeout=20_000)
        paths = page.eval_on_selector_all(".opblock-summary-path", "els => els.map(e => e.textContent)")
        assert "/api/v1/complaints" in " ".join(paths) and "/api/v1/compensation/{entry_id}/approve" in paths
        assert "closeloop" in page.inner_text(".swagger-ui .info .title")
        assert outside == [], f"the docs page reached for the network: {outside}"
        _shot(page, "14-api-docs-offline.png")


def test_member_searches_opens_a_result_and_signs_out(chromium, served):  # noqa: F811
    base, tokens = served
    with _offline_browser(chromium) as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        _signin(page, base, tokens["member"])  # NYPD
        page.fill("#search input[name=q]", "noise")
        page.click("#search button")
        page.wait_for_selector("#complaints")
        assert "/complaints?q=noise" in page.url
        rows = page.query_selector_all("#complaints tr[id^=complaint-]")
        assert rows, "no NYPD noise complaint found"
        total = int(page.inner_text("#complaint-total").split()[0])
        assert total == len(rows)
        _shot(page, "14-search-results.png")
        first = rows[0].get_attribute("id").split("-")[1]
        page.click(f"#complaint-{first} a")
        assert page.url.endswith(f"/complaints/{first}")
        assert "noise" in page.content().lower()
        cookie = next(c for c in context.cookies() if c["name"] == "closeloop_session")
        page.click("#signout")
        assert "/signin" in page.url
        thief = browser.new_context()
        thief.add_cookies([cookie])
        other = thief.new_page()
        other.goto(base + f"/complaints/{first}")
        assert "/signin" in other.url  # the session was revoked on the server, not just forgotten
