"""A lead (and a manager) cancels and assigns tasks from the queue, as the API lets them (``POST
/tasks/{id}/transitions`` cancel/assign: member 403, lead and manager 200); a member sees no such forms and
is refused when posting one. The forms carry the page's CSRF token and the task's version like the others."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from models.tables import Task, Transition
from tests.web.test_actions import _first, _form, _status


def _buttons(page: str, task_id: int) -> set[str]:
    row = re.search(rf'<tr id="task-{task_id}".*?</tr>', page, re.S)
    assert row, f"task {task_id} is not in the queue"
    return set(re.findall(r'data-action="(\w+)"', row.group(0)))


@pytest.mark.parametrize("who", ["lead", "manager"])
def test_a_lead_or_manager_cancels_and_assigns_from_the_queue(web, complaints, who):
    task = _first(web, "operations")
    c = web.signin(who)
    page = c.get("/queue/operations").text
    assert {"cancel", "assign"} <= _buttons(page, task.id)
    r = c.post(f"/tasks/{task.id}/assign", data={**_form(page, task.id, "assign"), "assignee": "Kim Ops"})
    assert r.status_code == 303 and "ok=assign" in r.headers["location"]
    with web.app.sessions() as s:
        assert s.get_one(Task, task.id).assignee == "Kim Ops"
    # the page's version is stale now: nothing is cancelled, the message says why
    stale = c.post(f"/tasks/{task.id}/cancel", data={**_form(page, task.id, "cancel"), "reason": "duplicate"})
    assert "err=stale" in stale.headers["location"] and _status(web, task.id) != "cancelled"
    page = c.get("/queue/operations").text
    empty = c.post(f"/tasks/{task.id}/cancel", data={**_form(page, task.id, "cancel"), "reason": "  "})
    assert "err=cancel_reason" in empty.headers["location"] and _status(web, task.id) != "cancelled"
    r = c.post(f"/tasks/{task.id}/cancel", data={**_form(page, task.id, "cancel"), "reason": "duplicate"})
    assert r.status_code == 303 and "ok=cancel" in r.headers["location"] and _status(web, task.id) == "cancelled"
    with web.app.sessions() as s:
        assert s.scalars(select(Transition.reason).where(Transition.entity == "task", Transition.entity_id == task.id,
                                                         Transition.trigger == "cancel")).one() == "duplicate"
    assert "csrf" in _form(page, task.id, "cancel")


def test_a_member_has_no_cancel_or_assign_and_is_refused(web, complaints):
    task = _first(web, "operations")
    c = web.signin("member")
    page = c.get("/queue/operations").text
    assert not {"cancel", "assign"} & _buttons(page, task.id)
    csrf = _form(page, task.id, "acknowledge")
    r = c.post(f"/tasks/{task.id}/cancel", data={**csrf, "reason": "duplicate"})
    assert r.status_code == 403 and _status(web, task.id) == "open"
    r = c.post(f"/tasks/{task.id}/assign", data={**csrf, "assignee": "me"})
    assert r.status_code == 403
