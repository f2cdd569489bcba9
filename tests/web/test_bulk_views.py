"""Issue 14 §5 on the dashboard (SQLite and PostgreSQL): a manager ticks complaints on the list and runs a
bulk action (one result per item; a stale one fails alone), CSRF-protected, manager only; a user saves the
list's filter as a view, finds it in the header and deletes it."""

from __future__ import annotations

import re

from sqlalchemy import select, update

from closeloop.services.capa import improvement
from closeloop.services.people.tokens import create_token
from closeloop.services.people.users import create_user
from models.tables import ApiToken, Complaint, ImprovementLink, Transition
from tests.web.conftest import T0, csrf_of


def _versions(web) -> dict[int, int]:
    with web.app.sessions() as s:
        return dict(s.execute(select(Complaint.id, Complaint.version)).all())


def test_a_manager_runs_a_bulk_link_with_a_stale_item(web, complaints):
    rec = improvement.create(web.app.sessions, config=web.app.config, title="bureau disputes",
                             owner_department="operations", actor="t", at=T0, match={"product": "Credit reporting"})
    c = web.signin("manager")
    page = c.get("/complaints").text
    assert 'id="bulk"' in page and f'value="{complaints[0]}:' in page and f'<option value="{rec.id}">' in page
    v = _versions(web)
    a, b, _ = complaints
    r = c.post("/complaints/bulk", data={"csrf": csrf_of(page), "action": "link", "improvement_id": str(rec.id),
                                         "reason": "incident 7", "next": "/complaints?q=x",
                                         "item": [f"{a}:{v[a]}", f"{b}:{v[b] + 5}"]})
    assert r.status_code == 200, r.text
    assert re.search(rf'id="result-{a}" data-ok="true"', r.text) and re.search(rf'id="result-{b}" data-ok="false"',
                                                                               r.text)
    assert "1 done, 1 failed." in r.text and "Changed by someone else" in r.text
    assert 'href="/complaints?q=x" id="bulk-back"' in r.text
    with web.app.sessions() as s:
        linked = set(s.scalars(select(ImprovementLink.complaint_id).where(ImprovementLink.improvement_id == rec.id)))
        audited = s.scalars(select(Transition.actor).where(Transition.trigger == "link")).all()
    assert linked == {a} and audited == ["web:manager (manager)"]


def test_bulk_problems_and_access(web, complaints):
    c = web.signin("manager")
    csrf = csrf_of(c.get("/complaints").text)
    v = _versions(web)
    a = complaints[0]
    r = c.post("/complaints/bulk", data={"csrf": csrf, "action": "transfer", "to": "nowhere", "reason": "x",
                                         "item": [f"{a}:{v[a]}"]})
    assert r.status_code == 422 and 'data-field="to"' in r.text
    r = c.post("/complaints/bulk", data={"csrf": csrf, "action": "close", "reason": "x"})
    assert r.status_code == 422 and 'data-field="items"' in r.text
    assert c.post("/complaints/bulk", data={"csrf": "forged", "action": "close", "reason": "x",
                                            "item": f"{a}:{v[a]}"}).status_code == 403
    lead = web.signin("lead")
    assert 'id="bulk"' not in lead.get("/complaints").text
    r = lead.post("/complaints/bulk", data={"csrf": csrf_of(lead.get("/complaints").text), "action": "close",
                                            "reason": "x", "item": f"{a}:{v[a]}"})
    assert r.status_code == 403
    assert _versions(web) == v


def test_a_user_saves_a_view_and_finds_it_in_the_header(web, complaints):
    create_user(web.app.sessions, web.app.config, handle="ann", name="Ann", role="member",
                departments=["operations"], actor="t", at=T0)
    with web.app.sessions.begin() as s:
        s.execute(update(ApiToken).where(ApiToken.name == "member").values(user_id=1))
    c = web.signin("member")
    page = c.get("/complaints?q=dispute&status=in_progress").text
    assert 'id="save-view"' in page and 'id="bulk"' not in page  # a member has no bulk actions
    r = c.post("/views", data={"csrf": csrf_of(page), "name": "My disputes", "q": "dispute", "status": "in_progress",
                               "overdue": "", "sort": "-received_at"})
    assert r.status_code == 303 and r.headers["location"].startswith("/complaints?q=dispute&status=in_progress")
    page = c.get(r.headers["location"]).text
    assert "View saved" in page
    m = re.search(r'<a href="(/complaints\?[^"]+)" data-view="(\d+)">My disputes</a>', page)
    assert m and m.group(1) == "/complaints?q=dispute&amp;status=in_progress&amp;sort=-received_at"
    r = c.post("/views", data={"csrf": csrf_of(page), "name": " ", "sort": "-received_at"})
    assert r.headers["location"].startswith("/complaints?view_err=name&why=a+view+needs+a+name&whysig=")
    assert "The view was not saved: “name”: a view needs a name." in c.get(r.headers["location"]).text
    other = web.signin("manager")  # no user behind the manager's token
    assert 'id="save-view"' not in other.get("/complaints").text
    assert other.post(f"/views/{m.group(2)}/delete", data={"csrf": csrf_of(other.get("/complaints").text)}
                      ).status_code == 403
    r = c.post(f"/views/{m.group(2)}/delete", data={"csrf": csrf_of(page)})
    assert r.status_code == 303 and "data-view" not in c.get("/complaints").text


def test_a_token_of_another_user_cannot_delete_my_view(web, complaints):
    for handle in ("ann", "bo"):
        create_user(web.app.sessions, web.app.config, handle=handle, name=handle, role="member",
                    departments=["operations"], actor="t", at=T0)
    token, _ = create_token(web.app.sessions, web.app.config, role="member", department="operations", name="bo",
                            created_by="t", at=T0, user="bo")
    from closeloop.services.reads.saved_views import normalise, save_view
    view = save_view(web.app.sessions, 1, "ann's", normalise(), at=T0)
    web.tokens["bo"] = token
    bo = web.signin("bo")
    r = bo.post(f"/views/{view.id}/delete", data={"csrf": csrf_of(bo.get("/complaints").text)})
    assert r.status_code == 404


def test_bulk_ids_over_max_id_do_nothing_on_the_dashboard(web, complaints):
    c = web.signin("manager")
    csrf = csrf_of(c.get("/complaints").text)
    v = _versions(web)
    a = complaints[0]
    r = c.post("/complaints/bulk", data={"csrf": csrf, "action": "reprioritize", "severity": "P1", "reason": "incident",
                                         "item": [f"{a}:{v[a]}", "9999999999:1"]})
    assert r.status_code == 422 and 'data-field="items"' in r.text, r.text
    r = c.post("/complaints/bulk", data={"csrf": csrf, "action": "link", "improvement_id": "9999999999",
                                         "reason": "incident", "item": f"{a}:{v[a]}"})
    assert r.status_code == 422 and 'data-field="improvement_id"' in r.text, r.text
    r = c.post("/complaints/bulk", data={"csrf": csrf, "action": "close", "reason": "a\x00b", "item": f"{a}:{v[a]}"})
    assert r.status_code == 422 and 'data-field="reason"' in r.text, r.text
    assert _versions(web) == v


def test_nul_in_search_customer_or_queue_is_the_dashboard_error_page(web, complaints):
    c = web.signin("manager")
    for url in ("/complaints?q=%00", "/complaints?q=a%00b", "/exports/complaints.csv?q=%00", "/customers/a%00b",
                "/queue/a%00b"):
        r = c.get(url)
        assert r.status_code == 422, (url, r.status_code)
        assert 'id="error-message"' in r.text and "The request was not valid." in r.text, url
