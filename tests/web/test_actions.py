"""Dashboard task actions: CSRF, versions (stale -> a message), complete and transfer."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from closeloop.services.work import tasks as task_svc
from models.tables import Task, Transition
from tests.web.conftest import csrf_of


def _first(web, department, status="open") -> Task:
    with web.app.sessions() as s:
        return s.scalars(select(Task).where(Task.department == department, Task.status == status)
                         .order_by(Task.id)).first()


def _status(web, task_id) -> str:
    with web.app.sessions() as s:
        return s.get(Task, task_id).status


def _form(page: str, task_id: int, action: str) -> dict:
    """The hidden fields of the queue row's form for ``action``."""
    m = re.search(rf'<form method="post" action="/tasks/{task_id}/{action}"[^>]*>(.*?)</form>', page, re.S)
    assert m, f"no {action} form for task {task_id}"
    fields = re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', m.group(1))
    return {k: html.unescape(v) for k, v in fields}


@pytest.mark.parametrize("csrf", [None, "", "forged", "other-session"])
def test_state_changing_forms_need_the_sessions_csrf_token(web, complaints, csrf):
    task = _first(web, "operations")
    c = web.signin("member")
    page = c.get("/queue/operations").text
    data = {"version": str(task.version)}
    if csrf == "other-session":
        data["csrf"] = csrf_of(web.signin("lead").get("/queue/operations").text)  # a valid token of another session
    elif csrf is not None:
        data["csrf"] = csrf
    r = c.post(f"/tasks/{task.id}/acknowledge", data=data)
    assert r.status_code == 403 and "error-message" in r.text
    assert _status(web, task.id) == "open"
    # sign-out and the language switch are forms too
    assert c.post("/signout", data={"csrf": "forged"}).status_code == 403
    assert c.get("/queue/operations").status_code == 200  # still signed in
    assert c.post("/language", data={"lang": "zh"}).status_code == 403
    # the right token from the page works
    ok = c.post(f"/tasks/{task.id}/acknowledge", data=_form(page, task.id, "acknowledge"))
    assert ok.status_code == 303 and _status(web, task.id) == "acknowledged"


def test_cross_origin_posts_and_signin_without_the_pre_session_cookie_are_refused(web, complaints):
    task = _first(web, "operations")
    c = web.signin("member")
    data = _form(c.get("/queue/operations").text, task.id, "acknowledge")
    r = c.post(f"/tasks/{task.id}/acknowledge", data=data, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and _status(web, task.id) == "open"
    fresh = web.client()  # a sign-in form posted from elsewhere has no pre-session cookie
    r = fresh.post("/signin", data={"csrf": "x", "token": web.tokens["member"]})
    assert r.status_code == 403 and "closeloop_session" not in r.headers.get("set-cookie", "")
    assert c.post(f"/tasks/{task.id}/acknowledge", content=b'{"version": 1}',
                  headers={"Content-Type": "application/json"}).status_code == 415


def test_stale_version_is_a_clear_message_not_an_error(web, complaints):
    task = _first(web, "operations")
    c = web.signin("member")
    page = c.get("/queue/operations").text
    data = _form(page, task.id, "acknowledge")
    # someone else acts on the task after the page was loaded
    task_svc.acknowledge(web.app.sessions, task.id, config=web.app.config, actor="someone", at=web.app.clock.now())
    r = c.post(f"/tasks/{task.id}/acknowledge", data=data)
    assert r.status_code == 303 and "err=stale" in r.headers["location"]
    shown = c.get(r.headers["location"])
    assert shown.status_code == 200
    assert f"Task {task.id} was changed by someone else" in shown.text
    with web.app.sessions() as s:
        actors = list(s.scalars(select(Transition.actor).where(Transition.entity == "task",
                                                               Transition.entity_id == task.id)))
    assert not any(a.startswith("web:") for a in actors)  # the stale write changed nothing


def test_complete_needs_an_outcome_and_leaves_the_queue(web, complaints):
    task = _first(web, "operations")
    c = web.signin("member")
    data = _form(c.get("/queue/operations").text, task.id, "complete")
    r = c.post(f"/tasks/{task.id}/complete", data={**data, "outcome": "  "})
    assert "err=outcome" in r.headers["location"] and _status(web, task.id) == "open"
    r = c.post(f"/tasks/{task.id}/complete", data={**data, "outcome": "Bureau record corrected"})
    assert r.status_code == 303 and "ok=complete" in r.headers["location"]
    page = c.get(r.headers["location"]).text
    assert f"Task {task.id} completed." in page and f'id="task-{task.id}"' not in page
    with web.app.sessions() as s:
        done = s.get(Task, task.id)
        assert (done.status, done.outcome) == ("done", "Bureau record corrected")
        actor = s.scalars(select(Transition.actor).where(Transition.entity == "task", Transition.entity_id == task.id,
                                                         Transition.trigger == "complete")).one()
    assert actor == "web:member (member@operations)"
    # the same form again (old version): stale, not a 500
    again = c.post(f"/tasks/{task.id}/complete", data={**data, "outcome": "twice"})
    assert "err=stale" in again.headers["location"]
    # the manager sees it among the recently completed tasks
    assert f'<tr data-task="{task.id}">' in web.signin("manager").get("/overview").text


def test_transfer_needs_a_target_and_a_reason_and_moves_the_task(web, complaints):
    task = _first(web, "operations")
    c = web.signin("member")
    data = _form(c.get("/queue/operations?show=all").text, task.id, "transfer")
    assert "err=reason" in c.post(f"/tasks/{task.id}/transfer", data={**data, "to": "product"}).headers["location"]
    for bad in ("", "operations", "nowhere"):
        r = c.post(f"/tasks/{task.id}/transfer", data={**data, "to": bad, "reason": "not ours"})
        assert "err=to" in r.headers["location"], bad
    assert _status(web, task.id) == "open"
    r = c.post(f"/tasks/{task.id}/transfer", data={**data, "to": "product", "reason": "a product fault"})
    assert "ok=transfer" in r.headers["location"] and _status(web, task.id) == "transferred"
    with web.app.sessions() as s:
        moved = s.scalars(select(Task).where(Task.transferred_from_id == task.id)).one()
    assert moved.department == "product"
    assert f'id="task-{moved.id}"' in web.signin("member_product").get("/queue/product").text


def test_illegal_action_names_the_state(web, complaints):
    blocked = _first(web, "service", status="blocked")
    c = web.signin("manager")
    page = c.get("/queue/service").text
    assert f'action="/tasks/{blocked.id}/acknowledge"' not in page  # only the allowed buttons are shown
    csrf = csrf_of(page)
    r = c.post(f"/tasks/{blocked.id}/acknowledge", data={"csrf": csrf, "version": str(blocked.version),
                                                          "next": "/queue/service"})
    assert "err=illegal" in r.headers["location"] and "state=blocked" in r.headers["location"]
    assert "cannot do that in its current state (blocked)" in c.get(r.headers["location"]).text


def test_queue_flags_and_filters(web, complaints):
    web.app.clock.advance(__import__("datetime").timedelta(days=30))  # everything is overdue by now
    c = web.signin("manager")  # (a session opened before would have expired: 12 hours)
    page = c.get("/queue/operations?show=overdue").text
    rows = re.findall(r'id="task-(\d+)"', page)
    assert rows and page.count('data-sla="overdue"') == len(rows)  # each row: "overdue by ..."
    assert 'class="on">Overdue' in page
    assert 'id="queue-empty"' in c.get("/queue/operations?show=due_today").text


def test_long_queues_are_paged_and_actions_return_to_the_page(web, config, clock):
    from datetime import timedelta

    from tests.web.conftest import T0, facts, intake

    intake(web.app.sessions, config, clock.now(), [
        facts(f"P-{i}", T0 - timedelta(hours=1), product="Credit reporting", category="Credit reporting",
              customer_ref=f"p{i}") for i in range(101)])
    c = web.signin("member")
    first = c.get("/queue/operations").text
    assert len(re.findall(r'id="task-(\d+)"', first)) == 100 and "1-100 of 101" in first
    second = c.get("/queue/operations?page=2").text
    rows = re.findall(r'id="task-(\d+)"', second)
    assert len(rows) == 1 and rows[0] not in re.findall(r'id="task-(\d+)"', first)
    r = c.post(f"/tasks/{rows[0]}/acknowledge", data=_form(second, int(rows[0]), "acknowledge"))
    assert r.headers["location"].startswith("/queue/operations?show=all&page=2&ok=acknowledge")
