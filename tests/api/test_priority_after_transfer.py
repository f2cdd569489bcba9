"""A lead changes a complaint's priority only while their department owns work on it (SQLite and PostgreSQL).

Operations' task on a credit-reporting complaint is transferred to product: the operations lead still sees the
complaint (the transferred task stays in the history) but may no longer change its priority, over the API
(403 naming the department the work belongs to now) or on the dashboard (a 403 page saying so); nothing is
written. Product's lead, who could not before, now may. The check is ``lifecycle.reprioritize``'s own.
"""

from __future__ import annotations

from sqlalchemy import func, select

from closeloop.services.people.tokens import create_token
from closeloop.services.work import lifecycle
from closeloop.services.work import tasks as task_svc
from models.tables import Complaint, Task, Transition
from tests.api.conftest import T0


def _ops_task(app, cid: int) -> Task:
    with app.sessions() as s:
        return s.scalars(select(Task).where(Task.complaint_id == cid, Task.department == "operations")).one()


def _written(app, cid: int) -> tuple:
    with app.sessions() as s:
        c = s.get_one(Complaint, cid)
        return c.severity, c.version, s.scalar(select(func.count()).select_from(Transition))


def _transfer_to_product(app, cid: int) -> None:
    task_svc.transfer(app.sessions, _ops_task(app, cid).id, config=app.config, to="product", reason="a product fault",
                      actor="t", at=app.clock.now())


def test_a_lead_changes_the_priority_until_the_departments_task_is_transferred_away(api, complaints):
    cid = complaints[0]
    product_lead, _ = create_token(api.app.sessions, api.app.config, role="lead", department="product",
                                   name="lead_product", created_by="test", at=T0)
    api.tokens["lead_product"] = product_lead
    assert api.post("lead_product", f"/complaints/{cid}/priority",
                    json={"severity": "P1", "reason": "not ours yet"}).status_code == 403
    r = api.post("lead", f"/complaints/{cid}/priority", json={"severity": "P1", "reason": "regulator asked"})
    assert r.status_code == 200 and r.json()["severity"] == "P1"
    _transfer_to_product(api.app, cid)
    before = _written(api.app, cid)
    r = api.post("lead", f"/complaints/{cid}/priority", json={"severity": "P2", "reason": "still ours?"})
    assert r.status_code == 403, r.text
    error = r.json()["error"]
    assert error["code"] == "forbidden" and "now belongs to department product" in error["message"], error
    assert _written(api.app, cid) == before
    assert api.get("lead", f"/complaints/{cid}").status_code == 200  # still seen: the transferred task is history
    r = api.post("lead_product", f"/complaints/{cid}/priority", json={"severity": "P2", "reason": "ours now"})
    assert r.status_code == 200 and r.json()["severity"] == "P2"
    assert api.post("manager", f"/complaints/{cid}/priority", json={"severity": "P3", "reason": "m"}).status_code == 200



def test_the_refused_lead_hears_403_before_anything_about_the_version(api, complaints):
    """Authorization is judged first: a garbled ``If-Match`` (no body version) or a stale one from the lead whose
    department's task was transferred away was a 422 naming ``If-Match`` (the route read the header before the
    service asked who owns the work); it is the 403. A body the API cannot read at all stays a 422 as before."""
    cid = complaints[0]
    _transfer_to_product(api.app, cid)
    before = _written(api.app, cid)
    body = {"severity": "P1", "reason": "still ours?"}
    for if_match in ("not-a-version", '"0"', '"99"'):
        r = api.post("lead", f"/complaints/{cid}/priority", json=body, headers={"If-Match": if_match})
        assert r.status_code == 403, (if_match, r.text)
        assert "now belongs to department product" in r.json()["error"]["message"]
    malformed = api.post("lead", f"/complaints/{cid}/priority", json={"severity": "P9", "reason": "x"})
    assert malformed.status_code == 422 and malformed.json()["error"]["field"] == "severity"
    assert _written(api.app, cid) == before
    garbled = api.post("manager", f"/complaints/{cid}/priority", json=body, headers={"If-Match": "not-a-version"})
    assert garbled.status_code == 422 and garbled.json()["error"]["field"] == "If-Match"  # one who may: as before


def _ops_lead_sets(api, cid: int, severity: str):
    return api.post("lead", f"/complaints/{cid}/priority", json={"severity": severity, "reason": "ours?"})


def test_a_cancelled_task_leaves_its_department_no_say_on_the_priority_a_done_one_does(api, complaints):
    """Operations' task cancelled (withdrawn from the department) no longer makes its lead an owner of the work:
    403 naming the departments that own it now (the old rule counted every task not transferred). A department
    whose task is done did the work (a reopen goes back to it): its lead still may."""
    cancelled, done = complaints[0], complaints[1]
    task_svc.cancel(api.app.sessions, _ops_task(api.app, cancelled).id, config=api.app.config,
                    reason="not an operations matter", actor="lead", at=api.app.clock.now())
    before = _written(api.app, cancelled)
    r = _ops_lead_sets(api, cancelled, "P1")
    assert r.status_code == 403, r.text
    message = r.json()["error"]["message"]
    assert "department operations was cancelled" in message and "now belongs to department service" in message
    assert _written(api.app, cancelled) == before
    assert api.post("lead_service", f"/complaints/{cancelled}/priority",
                    json={"severity": "P1", "reason": "ours"}).status_code == 200
    ops = _ops_task(api.app, done).id
    for step in (task_svc.acknowledge, task_svc.start):
        step(api.app.sessions, ops, config=api.app.config, actor="lead", at=api.app.clock.now())
    task_svc.complete(api.app.sessions, ops, config=api.app.config, actor="lead", at=api.app.clock.now(),
                      outcome="investigated")
    r = _ops_lead_sets(api, done, "P1")
    assert r.status_code == 200 and r.json()["severity"] == "P1", r.text


def test_the_rule_on_its_own():
    """:func:`lifecycle.priority_refusal` on ``(department, status)`` pairs: active or done tasks own the work,
    transferred or cancelled ones do not; a manager (``lead_of`` None) always may."""
    refusal = lifecycle.priority_refusal
    assert refusal(1, None, []) is None
    for status in ("open", "acknowledged", "in_progress", "blocked", "waiting", "done"):
        assert refusal(1, "ops", [("ops", status)]) is None, status
    gone = refusal(1, "ops", [("ops", "cancelled"), ("ops", "transferred"), ("svc", "open"), ("x", "cancelled")])
    assert gone is not None and gone.owners == ("svc",) and "cancelled or transferred" in gone.problem
    none = refusal(1, "ops", [("ops", "cancelled")])
    assert none is not None and none.owners == () and "belongs to no department" in none.problem
    assert "has no task in department ops" in refusal(1, "ops", [("svc", "done")]).problem
