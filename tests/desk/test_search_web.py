"""Issue 14: the dashboard's complaint list and search (header box on every page), scoped like the API."""

from __future__ import annotations

from datetime import timedelta

from tests.integration.helpers import facts, intake
from tests.web.conftest import T0, web  # noqa: F401


def _seed(web, config, clock):  # noqa: F811
    at = T0 - timedelta(hours=2)
    return intake(web.app.sessions, config, clock.now(), [
        facts("W-1", at, product="Credit reporting", category="Credit reporting",
              text="My lawyer says the report is wrong. 报告错误，要求更正。"),
        facts("W-2", at + timedelta(minutes=1), product="Student loan", category="Student loan",
              text="The loan servicer lost my payment."),
    ])


def test_search_box_on_every_page_and_results(web, config, clock):  # noqa: F811
    a, b = _seed(web, config, clock)
    browser = web.signin("manager")
    for page in ("/overview", "/queue/operations", f"/complaints/{a}", "/complaints"):
        html = browser.get(page).text
        assert 'id="search"' in html and 'action="/complaints"' in html, page
    r = browser.get("/complaints", params={"q": "报告"})
    assert r.status_code == 200
    assert f'id="complaint-{a}"' in r.text and f'id="complaint-{b}"' not in r.text
    assert "legal threat" in r.text and "legal_threat" not in r.text.replace('risk.legal_threat', '')
    listing = browser.get("/complaints", params={"sort": "-received_at"}).text
    assert listing.index(f'id="complaint-{b}"') < listing.index(f'id="complaint-{a}"')
    assert "2 complaints" in listing
    assert browser.get("/complaints", params={"sort": "nonsense"}).status_code == 422


def test_search_is_scoped_for_members_and_translated(web, config, clock):  # noqa: F811
    a, b = _seed(web, config, clock)
    member = web.signin("member")  # operations: W-1 only (W-2 goes to product and service)
    html = member.get("/complaints", params={"q": "the"}).text
    assert f'id="complaint-{a}"' in html and f'id="complaint-{b}"' not in html
    lead = web.signin("lead")  # Chinese
    zh = lead.get("/complaints", params={"q": "lawyer"}).text
    assert "法律威胁" in zh and "搜索" in zh
    assert web.signin("admin").get("/complaints").status_code == 403
