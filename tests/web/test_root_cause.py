"""Completing the last task of a complaint: a root cause from the complete form resolves the complaint;
without one a root-cause task appears, and it cannot be completed without a root cause (issue 5)."""

from __future__ import annotations

from sqlalchemy import select

from models.tables import Complaint, Task
from tests.web.test_actions import _form


def _tasks(web, complaint_id):
    with web.app.sessions() as s:
        return list(s.scalars(select(Task).where(Task.complaint_id == complaint_id).order_by(Task.id)))


def _complaint(web, complaint_id) -> Complaint:
    with web.app.sessions() as s:
        return s.get(Complaint, complaint_id)


def _complete(client, dept, task, **fields):
    page = client.get(f"/queue/{dept}").text
    r = client.post(f"/tasks/{task.id}/complete", data={**_form(page, task.id, "complete"), **fields})
    assert r.status_code == 303
    return r.headers["location"], page


def test_the_complete_form_records_a_root_cause_and_the_complaint_resolves(web, complaints):
    cid = complaints[0]  # operations investigate -> service respond
    ops, svc = _tasks(web, cid)
    manager = web.signin("manager")
    _complete(manager, "operations", ops, outcome="Bureau record corrected")
    where, page = _complete(manager, "service", _tasks(web, cid)[1], outcome="Customer told",
                            root_cause="undetermined")
    assert "err=root_cause" in where  # undetermined needs a note
    assert 'name="root_cause"' in page and "process gap" in page
    where, _ = _complete(manager, "service", _tasks(web, cid)[1], outcome="Customer told", root_cause="process_gap")
    assert "ok=complete" in where
    c = _complaint(web, cid)
    assert (c.status, c.root_cause) == ("resolved", "process_gap")
    page = manager.get(f"/complaints/{cid}").text  # the cause by its label in the reader's language, not its code
    assert "process gap" in page.split("<dt>Root cause</dt>", 1)[1].split("</dd>", 1)[0]


def test_without_a_root_cause_a_root_cause_task_asks_for_one(web, complaints):
    cid = complaints[0]
    manager = web.signin("manager")
    _complete(manager, "operations", _tasks(web, cid)[0], outcome="done")
    _complete(manager, "service", _tasks(web, cid)[1], outcome="answered")
    rc = [t for t in _tasks(web, cid) if t.kind == "root-cause"]
    assert len(rc) == 1 and _complaint(web, cid).status != "resolved"
    member = web.signin("member")  # the routing department's queue
    page = member.get(f"/queue/{rc[0].department}").text
    assert f'id="task-{rc[0].id}"' in page and 'data-required="yes"' in page
    where, _ = _complete(member, rc[0].department, rc[0], outcome="checked")
    assert "err=root_cause" in where
    assert "needs a valid root cause" in member.get(where).text
    where, _ = _complete(member, rc[0].department, rc[0], outcome="checked", root_cause="system",
                         root_cause_note="batch job dropped the update")
    assert "ok=complete" in where and _complaint(web, cid).status == "resolved"


def test_chinese_root_cause_labels(web, complaints):
    assert "流程缺口" in web.signin("lead").get("/queue/operations").text
