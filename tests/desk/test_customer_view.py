"""Issue 14 §2: the customer view, ``GET /api/v1/customers/{ref}`` (SQLite and PostgreSQL).

One customer with three complaints: a credit-reporting one (operations, then service), a payday-loan one
(product, then service: operations never touches it) and an unrouted one (triage) that was resolved and
followed up (the customer satisfied). A promise and compensation on the first two. Managers see all;
a department sees only the complaints its tasks touch, and only the history on those.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from closeloop.domain.customer import ContactPoint, CustomerProfile
from closeloop.services.customers.promises import keep_promise, make_promise
from closeloop.services.engine.sweep import sweep
from closeloop.services.work import compensation
from closeloop.services.work import tasks as task_svc
from models.tables import Task
from tests.api.conftest import T0
from tests.integration.helpers import facts, intake

NAME = "<script>alert('x')</script> 张"


def _history(app) -> dict[str, int]:
    """The customer ``cx`` and a lending-only customer ``cy``; returns the complaint ids by name."""
    cfg, sessions = app.config, app.sessions
    profile = CustomerProfile(NAME, "zh", "Asia/Shanghai", (ContactPoint("email", "cx@example.com", True),))
    at = T0 - timedelta(hours=2)
    credit, lending, gnomes, other = intake(sessions, cfg, T0, [
        facts("CX-1", at, product="Credit reporting", category="Credit reporting", customer_ref="cx",
              customer=profile),
        facts("CX-2", at, product="Payday loan", category="Payday loan", customer_ref="cx"),
        facts("CX-3", at, product="Garden gnomes", category="Garden gnomes", customer_ref="cx"),
        facts("CY-1", at, product="Payday loan", category="Payday loan", customer_ref="cy"),
    ])
    make_promise(sessions, cfg, credit, department="operations", kind="call_back", business_hours=3,
                 actor="api:agent (member@operations)", at=T0)
    compensation.add(sessions, credit, config=cfg, kind="refund", amount="10.00", actor="agent", at=T0)
    compensation.add(sessions, lending, config=cfg, kind="refund", amount="20.00", actor="agent", at=T0)
    with sessions() as s:
        (triage,) = s.scalars(select(Task.id).where(Task.complaint_id == gnomes)).all()
    task_svc.complete(sessions, triage, config=cfg, actor="triage", at=T0 + timedelta(hours=1), outcome="fixed",
                      root_cause=next(iter(cfg.model.improvement.root_causes)))
    sweep(sessions, cfg, T0 + timedelta(hours=3))
    sweep(sessions, cfg, T0 + timedelta(days=12))
    with sessions() as s:
        follow = s.scalar(select(Task.id).where(Task.complaint_id == gnomes, Task.kind == "follow-up"))
    task_svc.complete(sessions, follow, config=cfg, actor="agent", at=T0 + timedelta(days=12), satisfied=True,
                      outcome="called")
    later = T0 + timedelta(days=12)
    for keep in (False, True):  # one open, one kept; the first was broken by the sweep
        p = make_promise(sessions, cfg, credit, department="operations", kind="send_document", business_hours=3,
                         actor="agent", at=later)
        if keep:
            keep_promise(sessions, p.id, actor="agent", at=later, contact="sent by post")
    return {"credit": credit, "lending": lending, "gnomes": gnomes, "other": other}


def test_the_manager_sees_the_whole_history(api):
    ids = _history(api.app)
    r = api.get("manager", "/customers/cx")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["display_name"] == NAME and body["language"] == "zh" and body["complaint_count"] == 3
    assert {c["id"] for c in body["complaints"]} == {ids["credit"], ids["lending"], ids["gnomes"]}
    by_id = {c["id"]: c for c in body["complaints"]}
    assert by_id[ids["gnomes"]]["status"] == "closed" and by_id[ids["gnomes"]]["customer_satisfied"] is True
    assert by_id[ids["credit"]]["category"] == "Credit reporting" and by_id[ids["credit"]]["due_at"]
    assert set(by_id[ids["credit"]]) >= {"status", "severity", "received_at", "due_at", "category"}
    assert body["promise_counts"] == {"made": 3, "kept": 1, "broken": 1, "open": 1}
    assert [(p["complaint_id"], p["kind"], p["status"]) for p in body["promises"]] == [
        (ids["credit"], "call_back", "broken"), (ids["credit"], "send_document", "open"),
        (ids["credit"], "send_document", "kept")]
    assert sorted((e["complaint_id"], e["amount"]) for e in body["compensation"]) == [
        (ids["credit"], "10.00"), (ids["lending"], "20.00")]
    assert {e["status"] for e in body["compensation"]} <= {"approved", "pending_approval"}
    (verdict,) = body["verdicts"]
    assert verdict["complaint_id"] == ids["gnomes"] and verdict["satisfied"] is True


def test_a_department_sees_only_what_its_tasks_touch(api):
    ids = _history(api.app)
    ops = api.get("member", "/customers/cx").json()
    assert [c["id"] for c in ops["complaints"]] == [ids["credit"]]
    assert [e["complaint_id"] for e in ops["compensation"]] == [ids["credit"]]
    assert ops["verdicts"] == [] and ops["promise_counts"]["made"] == 3
    service = api.get("member_service", "/customers/cx").json()
    # service responds on both and did the follow-up (so it sees the verdict)
    assert {c["id"] for c in service["complaints"]} == {ids["credit"], ids["lending"], ids["gnomes"]}
    assert len(service["compensation"]) == 2 and len(service["verdicts"]) == 1


@pytest.mark.parametrize(("who", "ref", "status"), [
    ("member", "cy", 403), ("lead", "cy", 403), ("member_service", "cy", 200), ("manager", "cy", 200),
    ("admin", "cx", 403), ("manager", "nobody", 404), ("member", "nobody", 404)])
def test_access_follows_the_complaint_rules(api, who, ref, status):
    _history(api.app)
    r = api.get(who, f"/customers/{ref}")
    assert r.status_code == status, r.text
    if status >= 400:
        assert set(r.json()["error"]) == {"code", "message", "field", "details"}
    if status == 403 and who != "admin":
        assert NAME not in r.text and "cy" in r.json()["error"]["message"]


def test_no_token_is_401(api):
    assert api.client.get("/api/v1/customers/cx").status_code == 401
