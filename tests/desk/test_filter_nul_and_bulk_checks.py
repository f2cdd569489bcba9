"""Tester findings on the desk (SQLite and PostgreSQL): a NUL character in a search, filter, customer ref or
department is a 422 naming the parameter (PostgreSQL text cannot hold one: it was a 500 there); bulk requests
check ids, versions and the root cause before anything is done; a database error in one bulk item fails that
item only; bulk link is idempotent."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from closeloop.services.capa import improvement
from closeloop.services.work import bulk_actions
from models.tables import Complaint, Transition
from tests.api.conftest import T0


def _versions(api, ids) -> dict[int, int]:
    with api.app.sessions() as s:
        return dict(s.execute(select(Complaint.id, Complaint.version).where(Complaint.id.in_(ids))).all())


def test_nul_in_search_filter_customer_or_department_is_a_422_naming_it(api, complaints):
    for url, field in [("/complaints?q=%00", "q"), ("/complaints?q=a%00b", "q"),
                       ("/complaints?department=a%00b", "department"), ("/exports/complaints?q=%00", "q"),
                       ("/exports/complaints?q=a%00b&format=json", "q"), ("/customers/a%00b", "ref"),
                       ("/departments/a%00b/tasks", "department")]:
        r = api.get("manager", url)
        assert r.status_code == 422, (url, r.text)
        assert r.json()["error"]["field"] == field and "NUL" in r.json()["error"]["message"], (url, r.text)
    assert api.get("manager", "/complaints?q=a").status_code == 200


def test_bulk_ids_over_max_id_are_refused_up_front(api, complaints):
    a = complaints[0]
    before = _versions(api, [a])
    out = bulk_actions.check_request
    for items in ([(a, None), (9_999_999_999, None)], [(a, 9_999_999_999)]):
        try:
            out(api.app.sessions, api.app.config, bulk_actions.BulkRequest("reprioritize", "x", severity="P2"), items)
        except bulk_actions.InvalidInput as exc:
            assert exc.field == "items"
        else:
            raise AssertionError(items)
    r = api.post("manager", "/complaints/bulk", {"action": "link", "improvement_id": 9_999_999_999, "reason": "x",
                                                 "items": [{"id": a}]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "improvement_id"
    assert _versions(api, [a]) == before


def test_bulk_resolve_checks_the_root_cause_first(api, complaints):
    a, b, _ = complaints
    before = _versions(api, [a, b])
    r = api.post("manager", "/complaints/bulk", {"action": "resolve", "root_cause": "nonsense", "reason": "x",
                                                 "items": [{"id": a}, {"id": b}]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "root_cause", r.text
    r = api.post("manager", "/complaints/bulk", {"action": "resolve", "root_cause": "undetermined", "reason": "x",
                                                 "items": [{"id": a}]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "root_cause_detail", r.text
    assert _versions(api, [a, b]) == before


def test_bulk_link_twice_reports_already_linked_and_changes_nothing(api, complaints):
    a, b, _ = complaints
    rec = improvement.create(api.app.sessions, config=api.app.config, title="feed", actor="t", at=T0,
                             owner_department="operations", complaint_ids=[b])
    body = {"action": "link", "improvement_id": rec.id, "reason": "incident", "items": [{"id": a}]}
    first = api.post("manager", "/complaints/bulk", body).json()["results"][0]
    assert first["ok"] and first["changed"]
    version = _versions(api, [a])[a]
    again = api.post("manager", "/complaints/bulk", body).json()["results"][0]
    assert again["ok"] and not again["changed"] and again["version"] == version
    assert _versions(api, [a])[a] == version
    with api.app.sessions() as s:
        links = s.scalars(select(Transition.id).where(Transition.trigger == "link", Transition.complaint_id == a))
        assert len(list(links)) == 1


def test_a_database_error_in_one_bulk_item_fails_that_item_only(api, complaints, monkeypatch):
    a, b, c = complaints
    real = bulk_actions._STEP["reprioritize"]

    def flaky(sessions, config, cid, *args):
        if cid == b:
            raise OperationalError("UPDATE complaints", {}, Exception("connection reset"))
        return real(sessions, config, cid, *args)

    monkeypatch.setitem(bulk_actions._STEP, "reprioritize", flaky)
    r = api.post("manager", "/complaints/bulk", {"action": "reprioritize", "severity": "P1", "reason": "x",
                                                 "items": [{"id": a}, {"id": b}, {"id": c}]})
    assert r.status_code == 200, r.text
    assert [(x["id"], x["ok"]) for x in r.json()["results"]] == [(a, True), (b, False), (c, True)]
    assert "database" in r.json()["results"][1]["error"]["message"]
