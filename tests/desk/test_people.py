"""Issue 14 §3, §4: users, tokens that belong to them, assignment to a person, "my tasks", notices to a
person's own target (language, working hours, department fall-back), notes with @mentions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from closeloop.config import load_config
from closeloop.domain.errors import InvalidInput
from closeloop.services.engine.sweep import sweep
from closeloop.services.people import users as user_svc
from closeloop.services.people.tokens import create_token
from models.tables import Mention, Message, Notification, Outbox, Task
from tests.api.conftest import T0

SHANGHAI = """
[calendars.shanghai]
timezone = "Asia/Shanghai"
hours = "mon-fri 09:00-18:00"
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    """The default configuration plus a Shanghai calendar (a user's own working hours)."""
    from importlib import resources

    text = resources.files("closeloop.config").joinpath("default.toml").read_text("utf-8")
    path = tmp_path_factory.mktemp("cfg") / "people.toml"
    path.write_text(text + SHANGHAI, encoding="utf-8")
    return load_config(path)


def _user(api, handle, *, departments=("operations",), role="member", language="en", calendar=None, notify=""):
    return user_svc.create_user(api.app.sessions, api.app.config, handle=handle, name=handle.replace(".", " ").title(),
                                departments=list(departments), role=role, language=language, calendar=calendar,
                                notify=notify, actor="test", at=T0)


def _token(api, user, *, role="member", department="operations") -> dict:
    secret, _ = create_token(api.app.sessions, api.app.config, role=role, department=department, name=user.handle,
                             created_by="t", at=T0, user=user.handle)
    return {"Authorization": f"Bearer {secret}"}


def _ops_task(api, cid) -> Task:
    with api.app.sessions() as s:
        return s.scalar(select(Task).where(Task.complaint_id == cid, Task.department == "operations"))


def test_user_rules_name_the_field(api):
    _user(api, "wang.li")
    cases = [(dict(handle="Wang.Li"), "handle"), (dict(handle="-x"), "handle"),
             (dict(handle="ann", departments=["nowhere"]), "departments"),
             (dict(handle="ann", departments=[]), "departments"),
             (dict(handle="ann", language="fr"), "language"), (dict(handle="ann", calendar="mars"), "calendar"),
             (dict(handle="ann", notify="not a target"), "notify"), (dict(handle="ann", role="boss"), "role")]
    for kw, field in cases:
        args = dict(handle="ann", departments=["operations"], role="member", language="en", calendar=None,
                    notify="") | kw
        with pytest.raises(InvalidInput) as exc:
            user_svc.create_user(api.app.sessions, api.app.config, name="Ann", actor="t", at=T0, **args)
        assert exc.value.field == field, (kw, exc.value)
    assert [u.handle for u in user_svc.list_users(api.app.sessions)] == ["wang.li"]
    assert _user(api, "ann", notify="mailto:ann@example.com").notify == "ann@example.com"
    # a token belongs to a user of its role and department
    with pytest.raises(InvalidInput, match="does not work for department 'service'") as exc:
        create_token(api.app.sessions, api.app.config, role="member", department="service", name="x",
                     created_by="t", at=T0, user="wang.li")
    assert exc.value.field == "user"
    bad = api.post("admin", "/tokens", {"role": "member", "department": "operations", "name": "x", "user": "nobody"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "user"


def test_a_users_token_takes_the_users_language_and_name_unless_given(api):
    """`tokens create --user` / POST /tokens with a user: the token speaks the user's language (dashboard,
    /me) and is named after them; an explicit name or language still wins; without a user: role@dept, en."""
    wang = _user(api, "wang.li", language="zh")
    _, info = create_token(api.app.sessions, api.app.config, role="member", department="operations",
                           created_by="t", at=T0, user="wang.li")
    assert (info.language, info.name) == ("zh", wang.name)
    r = api.post("admin", "/tokens", {"role": "member", "department": "operations", "user": "wang.li"})
    assert r.status_code == 201 and (r.json()["info"]["language"], r.json()["info"]["name"]) == ("zh", wang.name)
    me = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {r.json()['token']}"})
    assert me.status_code == 200 and me.json()["language"] == "zh"
    r = api.post("admin", "/tokens", {"role": "member", "department": "operations", "user": "wang.li",
                                      "language": "en", "name": "Wang's laptop"})
    assert (r.json()["info"]["language"], r.json()["info"]["name"]) == ("en", "Wang's laptop")
    r = api.post("admin", "/tokens", {"role": "member", "department": "operations"})
    assert (r.json()["info"]["language"], r.json()["info"]["name"]) == ("en", "member@operations")


def test_assignment_to_a_person_and_my_tasks(api, complaints):
    wang = _user(api, "wang.li")
    _user(api, "li.na", departments=["service"])
    task = _ops_task(api, complaints[0])
    url = f"/tasks/{task.id}/transitions"
    unknown = api.post("lead", url, {"trigger": "assign", "assignee": "@nobody"})
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "assignee"
    other = api.post("lead", url, {"trigger": "assign", "assignee": "@li.na"})
    assert other.status_code == 422 and "does not work for department 'operations'" in other.text
    free = api.post("lead", url, {"trigger": "assign", "assignee": "the night shift"})
    assert free.status_code == 200 and free.json()["task"]["assignee_user_id"] is None
    by_name = api.post("lead", url, {"trigger": "assign", "assignee": "WANG LI"})  # the full name, any case
    assert by_name.status_code == 200, by_name.text
    assert by_name.json()["task"]["assignee"] == "wang.li"
    assert by_name.json()["task"]["assignee_user_id"] == wang.id
    mine = api.client.get("/api/v1/me/tasks", headers=_token(api, wang))
    assert mine.status_code == 200 and [t["id"] for t in mine.json()["items"]] == [task.id]
    assert mine.json()["total"] == 1
    no_user = api.get("member", "/me/tasks")
    assert no_user.status_code == 403 and "belongs to no user" in no_user.json()["error"]["message"]
    me = api.client.get("/api/v1/me", headers=_token(api, wang)).json()
    assert me["user_id"] == wang.id
    # taking a task up with a token of one's own makes it one's task
    other = _ops_task(api, complaints[1])
    ack = api.client.post(f"/api/v1/tasks/{other.id}/transitions", json={"trigger": "acknowledge"},
                          headers=_token(api, wang))
    assert ack.status_code == 200 and ack.json()["task"]["assignee_user_id"] == wang.id
    mine = api.client.get("/api/v1/me/tasks", headers=_token(api, wang)).json()
    assert sorted(t["id"] for t in mine["items"]) == sorted([task.id, other.id])


def test_a_reminder_to_an_assigned_person_goes_to_their_target_in_their_language_and_hours(api, complaints):
    """The person's own target, language and calendar (Shanghai) for the assignee's notices; a person
    without a target of their own falls back to the department's channel."""
    zhang = _user(api, "zhang.wei", language="zh", calendar="shanghai", notify="capture://zhang.jsonl")
    plain = _user(api, "ann")
    t1, t2 = _ops_task(api, complaints[0]), _ops_task(api, complaints[1])
    assert api.post("lead", f"/tasks/{t1.id}/transitions", {"trigger": "assign", "assignee": "@zhang.wei"}).is_success
    assert api.post("lead", f"/tasks/{t2.id}/transitions", {"trigger": "assign", "assignee": "ann"}).is_success
    late = T0 + timedelta(days=10)  # past every reminder and the escalation to the assignee
    sweep(api.app.sessions, api.app.config, late)
    with api.app.sessions() as s:
        rows = s.scalars(select(Notification).where(Notification.role == "assignee",
                                                    Notification.task_id.in_([t1.id, t2.id]))).all()
    mine = [n for n in rows if n.task_id == t1.id]
    theirs = [n for n in rows if n.task_id == t2.id]
    assert mine and theirs
    assert {(n.target, n.language, n.recipient) for n in mine} == {("capture://zhang.jsonl", "zh", zhang.name)}
    default = api.app.config.model.escalation.default_notify
    assert {(n.target, n.recipient) for n in theirs} == {(default, plain.name)}
    # released in the person's working hours: 09:00-18:00 Shanghai on a working day
    for n in mine:
        local = n.release_at.astimezone(api.app.config.calendar("shanghai").zone)
        assert local.weekday() < 5 and 9 <= local.hour < 18, local


def test_a_note_with_mentions_notifies_each_person_once_through_the_outbox(api, complaints):
    cid = complaints[0]
    zhang = _user(api, "zhang.wei", language="zh", calendar="shanghai", notify="capture://zhang.jsonl")
    _user(api, "li.na", departments=["service"])
    body = "@Zhang.Wei please check the refund; ann@example.com is no mention; again @zhang.wei and @li.na."
    r = api.post("member", f"/complaints/{cid}/notes", {"body": body})
    assert r.status_code == 201, r.text
    assert r.json()["mentions"] == ["zhang.wei", "li.na"]
    unknown = api.post("member", f"/complaints/{cid}/notes", {"body": "ask @nobody.here"})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["field"] == "body" and "@nobody.here" in unknown.json()["error"]["message"]
    with api.app.sessions() as s:
        assert s.scalar(select(Message.body).where(Message.direction == "internal")) == body  # one note only
        keys = s.scalars(select(Notification.key).where(Notification.kind == "mention")
                         .order_by(Notification.key)).all()
        assert len(s.scalars(select(Mention)).all()) == 2
    note_id = r.json()["id"]
    assert sorted(keys) == sorted([f"mention:{note_id}:{zhang.id}", f"mention:{note_id}:{zhang.id + 1}"])
    # packed into the outbox at the person's working hours, in their language; a second sweep adds nothing
    monday_shanghai = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai, Monday
    sweep(api.app.sessions, api.app.config, monday_shanghai)
    sweep(api.app.sessions, api.app.config, monday_shanghai + timedelta(minutes=5))
    with api.app.sessions() as s:
        out = s.scalars(select(Outbox).where(Outbox.target == "capture://zhang.jsonl")).all()
    assert len(out) == 1 and "提到了您" in out[0].body and f"#{cid}" in out[0].body
    mentions = api.client.get("/api/v1/me/mentions", headers=_token(api, zhang)).json()
    assert [(m["message_id"], m["complaint_id"]) for m in mentions] == [(note_id, cid)]
    assert mentions[0]["excerpt"].startswith("@Zhang.Wei please check")


def test_priority_and_wait_over_the_api_are_version_checked(api, complaints):
    cid = complaints[0]
    v = api.get("manager", f"/complaints/{cid}").json()["complaint"]["version"]
    assert api.post("member", f"/complaints/{cid}/priority", {"severity": "P1", "reason": "x"}).status_code == 403
    no_reason = api.post("lead", f"/complaints/{cid}/priority", {"severity": "P1", "version": v})
    assert no_reason.status_code == 422 and no_reason.json()["error"]["field"] == "reason"
    stale = api.post("lead", f"/complaints/{cid}/priority", {"severity": "P1", "reason": "press", "version": v + 5})
    assert stale.status_code == 409
    ok = api.post("lead", f"/complaints/{cid}/priority", {"severity": "P1", "reason": "press"},
                  headers={"If-Match": f'"{v}"'})
    assert ok.status_code == 200 and ok.json()["severity"] == "P1"
    v2 = ok.json()["version"]
    assert v2 > v
    past = api.post("member", f"/complaints/{cid}/wait", {"reason": "documents", "until": "2026-03-01T00:00:00Z"})
    assert past.status_code == 422 and past.json()["error"]["field"] == "until"
    stale = api.post("member", f"/complaints/{cid}/wait", {"reason": "documents", "version": v})
    assert stale.status_code == 409
    wait = api.post("member", f"/complaints/{cid}/wait", {"reason": "documents", "version": v2,
                                                          "until": "2026-03-09T00:00:00Z"})
    assert wait.status_code == 200 and wait.json()["status"] == "awaiting_customer"
    again = api.post("member", f"/complaints/{cid}/wait", {"reason": "documents"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "illegal_transition"
