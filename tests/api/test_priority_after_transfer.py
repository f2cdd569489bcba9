"""A lead changes a complaint's priority only while their department owns work on it (SQLite and PostgreSQL).

Operations' task on a credit-reporting complaint is transferred to product: the operations lead still sees the
complaint (the transferred task stays in the history) but may no longer change its priority, over the API
(403 naming the department the work belongs to now) or on the dashboard (a 403 page saying so); nothing is
written. Product's lead, who could not before, now may. The check is ``lifecycle.reprioritize``'s own.
"""

from __future__ import annotations

from sqlalchemy import func, select

from closeloop.services.people.tokens import create_token
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

