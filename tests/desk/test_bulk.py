"""Issue 14 §5: bulk actions over the API, one transaction per item, per-item results, audited per item;
a stale item fails alone."""

from __future__ import annotations

from sqlalchemy import func, select

from closeloop.services.capa import improvement
from models.tables import Complaint, ImprovementLink, Task, Transition
from tests.api.conftest import T0


def _versions(api, ids) -> dict[int, int]:
    with api.app.sessions() as s:
        return dict(s.execute(select(Complaint.id, Complaint.version).where(Complaint.id.in_(ids))).all())


def test_bulk_transfer_with_a_stale_item_fails_that_item_only(api, complaints):
    a, b, c = complaints  # a, b: credit reporting (operations investigates); c: mortgage
    v = _versions(api, complaints)
    items = [{"id": a, "version": v[a]}, {"id": b, "version": v[b] + 1}, {"id": c, "version": v[c]}]
    r = api.post("manager", "/complaints/bulk", {"action": "transfer", "to": "product", "from_department": "operations",
                                                 "reason": "incident 42: product owns the fix", "items": items})
    assert r.status_code == 200, r.text
    out = {x["id"]: x for x in r.json()["results"]}
    assert [x["id"] for x in r.json()["results"]] == [a, b, c]  # in order
    assert out[a]["ok"] and out[a]["status"] == 200 and out[a]["version"] > v[a]
    assert not out[b]["ok"] and out[b]["status"] == 409 and out[b]["error"]["code"] == "conflict"
    assert out[b]["error"]["field"] == "version"
    had_ops = c in _with_ops(api)
    assert out[c]["ok"] is had_ops and (had_ops or out[c]["error"]["field"] == "to")
    assert (r.json()["succeeded"], r.json()["failed"]) == (1 + had_ops, 2 - had_ops)
    with api.app.sessions() as s:
        moved = dict(s.execute(select(Transition.complaint_id, func.count()).where(
            Transition.trigger == "transfer", Transition.actor == "api:manager (manager)")
            .group_by(Transition.complaint_id)).all())
        b_tasks = s.scalars(select(Task.department).where(Task.complaint_id == b)).all()
    assert moved.get(a) == 1 and b not in moved  # audited per item; the stale one untouched
    assert "product" not in b_tasks and _versions(api, [b])[b] == v[b]


def _with_ops(api) -> set[int]:
    with api.app.sessions() as s:
        return set(s.scalars(select(Task.complaint_id).where(Task.department == "operations")))


def test_bulk_reprioritize_link_resolve_close_report_each_item(api, complaints):
    a, b, c = complaints
    pr = api.post("manager", "/complaints/bulk", {"action": "reprioritize", "severity": "P1", "reason": "regulator",
                                                  "items": [{"id": a}, {"id": 999_999}, {"id": b}]}).json()
    assert [(x["ok"], x["status"]) for x in pr["results"]] == [(True, 200), (False, 404), (True, 200)]
    again = api.post("manager", "/complaints/bulk", {"action": "reprioritize", "severity": "P1", "reason": "x",
                                                     "items": [{"id": a}]}).json()["results"][0]
    assert again["status"] == 422 and again["error"]["field"] == "severity"
    rec = improvement.create(api.app.sessions, config=api.app.config, title="bureau feed", actor="t", at=T0,
                             owner_department="operations", complaint_ids=[b])
    link = api.post("manager", "/complaints/bulk", {"action": "link", "improvement_id": rec.id, "reason": "incident 42",
                                                    "items": [{"id": a}, {"id": c}]})
    assert link.json()["succeeded"] == 2
    with api.app.sessions() as s:
        linked = set(s.scalars(select(ImprovementLink.complaint_id).where(ImprovementLink.improvement_id == rec.id)))
        audit = s.scalars(select(Transition.complaint_id).where(Transition.trigger == "link")).all()
    assert linked == {a, b, c} and sorted(audit) == sorted([a, c])
    close = api.post("manager", "/complaints/bulk", {"action": "close", "reason": "done", "items": [{"id": a}]})
    assert close.json()["results"][0]["error"]["code"] == "illegal_transition"  # not resolved yet
    code = next(iter(api.app.config.model.improvement.root_causes))
    resolved = api.post("manager", "/complaints/bulk", {"action": "resolve", "reason": "fixed the feed",
                                                        "root_cause": code, "items": [{"id": a}, {"id": b}]})
    assert resolved.json()["succeeded"] == 2
    closed = api.post("manager", "/complaints/bulk", {"action": "close", "reason": "done",
                                                      "items": [{"id": a}, {"id": b}]})
    assert closed.json()["succeeded"] == 2
    assert {api.get("manager", f"/complaints/{x}").json()["complaint"]["status"] for x in (a, b)} == {"closed"}


def test_bad_bulk_requests_do_nothing_and_name_the_field(api, complaints):
    a = complaints[0]
    cases = [({"action": "transfer", "reason": "x", "items": [{"id": a}]}, "to"),
             ({"action": "transfer", "to": "nowhere", "reason": "x", "items": [{"id": a}]}, "to"),
             ({"action": "reprioritize", "severity": "P2", "reason": "x", "items": [{"id": a}, {"id": a}]}, "items"),
             ({"action": "link", "reason": "x", "items": [{"id": a}]}, "improvement_id"),
             ({"action": "close", "reason": "x", "items": []}, "items"),
             ({"action": "explode", "reason": "x", "items": [{"id": a}]}, "action")]
    before = _versions(api, [a])
    for body, field in cases:
        r = api.post("manager", "/complaints/bulk", body)
        assert r.status_code == 422 and r.json()["error"]["field"] == field, (body, r.text)
    assert api.post("lead", "/complaints/bulk", cases[0][0]).status_code == 403
    assert _versions(api, [a]) == before
