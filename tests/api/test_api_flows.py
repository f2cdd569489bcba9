"""Complaints and tasks through the API: filters, pagination, detail, merge, reopen, transfer, queue, overview."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from closeloop.services.engine.sweep import sweep
from models.tables import Timer

from .conftest import T0


def test_list_filters_and_pagination(api, complaints):
    page = api.get("manager", "/complaints", params={"limit": 2}).json()
    assert page["total"] == 3 and [c["id"] for c in page["items"]] == complaints[:2]
    page2 = api.get("manager", "/complaints", params={"limit": 2, "offset": 2}).json()
    assert [c["id"] for c in page2["items"]] == complaints[2:]
    assert api.get("manager", "/complaints", params={"status": "resolved"}).json()["total"] == 0
    both = api.get("manager", "/complaints", params=[("status", "triaged"), ("status", "resolved")]).json()
    assert both["total"] == 3
    assert api.get("manager", "/complaints", params={"department": "product"}).json()["total"] == 1  # the mortgage
    sev = api.get("manager", "/complaints/" + str(complaints[0])).json()["complaint"]["severity"]
    assert api.get("manager", "/complaints", params={"severity": sev}).json()["total"] >= 1
    r = api.get("manager", "/complaints", params={"severity": "P9"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "severity"  # the parameter, not its first item
    window = {"received_from": (T0 - timedelta(hours=2)).isoformat(), "received_to": T0.isoformat()}
    assert api.get("manager", "/complaints", params=window).json()["total"] == 3
    assert api.get("manager", "/complaints", params={"created_from": T0.isoformat(),
                                                     "created_to": (T0 + timedelta(seconds=1)).isoformat()}
                   ).json()["total"] == 3
    assert api.get("manager", "/complaints", params={"overdue": True}).json()["total"] == 0
    api.app.clock.advance(timedelta(days=30))
    assert api.get("manager", "/complaints", params={"overdue": True}).json()["total"] == 3
    # a member of service sees every complaint (each has a service task); product sees only the mortgage
    assert api.get("member_service", "/complaints").json()["total"] == 3


def test_detail_has_timeline_tasks_and_clocks(api, complaints):
    d = api.get("member", f"/complaints/{complaints[0]}").json()
    assert d["complaint"]["id"] == complaints[0]
    assert {t["department"] for t in d["tasks"]} == {"operations", "service"}
    names = {(c["owner"].split(" ")[0], c["name"]) for c in d["clocks"]}
    assert ("complaint", "resolve") in names and ("task", "acknowledge") in names
    assert all(c["calendar"] and c["zone"] for c in d["clocks"])
    assert d["timeline"][0]["kind"] == "transition" and d["timeline"][0]["at"].endswith("Z") or "+00:00" in \
        d["timeline"][0]["at"]
    assert api.get("manager", "/complaints/999999").status_code == 404


def test_merge_and_reopen_with_versions(api, complaints):
    dup, into = complaints[0], complaints[1]
    v = api.get("manager", f"/complaints/{dup}").json()["complaint"]["version"]
    r = api.post("manager", f"/complaints/{dup}/transitions", {"trigger": "merge", "into": into, "version": v + 1,
                                                                         "reason": "same"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
    r = api.post("manager", f"/complaints/{dup}/transitions", {"trigger": "merge", "into": into, "version": v,
                                                                "reason": "same customer, same report"})
    assert r.status_code == 200 and r.json()["status"] == "merged" and r.json()["merged_into_id"] == into
    assert dup in api.get("manager", f"/complaints/{into}").json()["merged_from"]
    # reopen needs a resolved or closed complaint: 409 names the state
    r = api.post("manager", f"/complaints/{into}/transitions", {"trigger": "reopen", "reason": "customer called"})
    assert r.status_code == 409 and r.json()["error"]["details"][0]["state"] == "triaged"
    resolve = {"trigger": "resolve", "reason": "fixed"}
    r = api.post("manager", f"/complaints/{into}/transitions", resolve)
    assert r.status_code == 422 and r.json()["error"]["field"] == "root_cause"  # resolving needs a root cause
    resolve["root_cause"] = next(iter(api.app.config.model.improvement.root_causes))
    r = api.post("manager", f"/complaints/{into}/transitions", resolve)
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    r = api.post("manager", f"/complaints/{into}/transitions", {"trigger": "reopen", "reason": "customer called",
                                                                 "department": "operations"})
    assert r.status_code == 200 and r.json()["status"] == "reopened" and r.json()["reopen_count"] == 1
    r = api.post("manager", f"/complaints/{into}/transitions", {"trigger": "explode"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"


def test_transfer_needs_target_and_reason_and_moves_the_work(api, complaints):
    task = api.get("member", "/departments/operations/tasks").json()["items"][0]
    url = f"/tasks/{task['id']}/transitions"
    r = api.post("member", url, {"trigger": "transfer", "to": "product"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "reason"
    r = api.post("member", url, {"trigger": "transfer", "reason": "theirs"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "to"
    r = api.post("member", url, {"trigger": "transfer", "to": "nowhere", "reason": "theirs"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "to"
    r = api.post("member", url, {"trigger": "transfer", "to": "product", "reason": "a product-terms question"})
    assert r.status_code == 200
    body = r.json()
    assert body["task"]["status"] == "transferred" and body["new_task"]["department"] == "product"
    assert body["new_task"]["transfer_reason"] == "a product-terms question"
    assert api.get("member", f"/tasks/{body['new_task']['id']}").status_code == 403  # no longer ours
    assert api.get("member", "/departments/operations/tasks").json()["total"] == 2


def test_complete_with_outcome_and_queue_filters(api, complaints):
    q = api.get("lead", "/departments/operations/tasks").json()["items"]
    r = api.post("lead", f"/tasks/{q[0]['id']}/transitions", {"trigger": "complete", "outcome": "report corrected"})
    assert r.status_code == 200 and r.json()["task"]["outcome"] == "report corrected"
    assert api.get("lead", "/departments/operations/tasks", params={"status": "done"}).json()["total"] == 1
    assert api.get("lead", "/departments/operations/tasks").json()["total"] == 2
    assert api.get("lead", "/departments/operations/tasks", params={"overdue": True}).json()["total"] == 0
    due = min(t["due_at"] for t in q[1:])
    api.app.clock.set(api.app.clock.now() + timedelta(days=20))
    assert api.get("lead", "/departments/operations/tasks", params={"overdue": True}).json()["total"] == 2
    assert due is not None
    assert api.get("manager", "/departments/nowhere/tasks").status_code == 404
    assert api.get("manager", "/departments/operations/tasks", params={"status": "nonsense"}).status_code == 422


def test_due_today_is_the_department_calendar_day(api, complaints):
    items = api.get("manager", "/departments/operations/tasks").json()["items"]
    today = api.get("manager", "/departments/operations/tasks", params={"due_today": True}).json()
    from datetime import datetime

    zone = api.app.config.department_calendar("operations").zone
    local_today = api.app.clock.now().astimezone(zone).date()
    expected = [t["id"] for t in items if t["due_at"] and
                datetime.fromisoformat(t["due_at"]).astimezone(zone).date() == local_today]
    assert [t["id"] for t in today["items"]] == expected


def test_overview_matches_the_clocks(api, complaints):
    sweep(api.app.sessions, api.app.config, api.app.clock.now())  # timers for every task
    with api.app.sessions() as s:
        first_80 = min(s.scalars(select(Timer.fire_at).where(Timer.key.like("reminder:%:80"))))
    api.app.clock.set(first_80 + timedelta(minutes=1))
    ov = api.get("manager", "/overview").json()
    assert ov["complaints_by_status"] == {"triaged": 3}
    assert ov["open_complaints"] == 3 and sum(b["count"] for b in ov["age_of_open_complaints"]) == 3
    assert set(ov["departments"]) >= {"operations", "service", "product", "triage"}
    for dept, fig in ov["departments"].items():
        tasks = api.get("manager", f"/departments/{dept}/tasks").json()["items"]
        assert fig["active"] == len(tasks)
        clocks = [c for t in tasks for c in api.get("manager", f"/tasks/{t['id']}").json()["clocks"]
                  if c["name"] == "resolve"]
        assert fig["at_risk"] == sum(c["status"] == "at_risk" for c in clocks), dept
        assert fig["breached"] == sum(c["status"] == "breached" for c in clocks), dept
    assert sum(f["at_risk"] for f in ov["departments"].values()) >= 1
    api.app.clock.advance(timedelta(days=40))
    ov = api.get("manager", "/overview").json()
    assert ov["departments"]["operations"]["breached"] == 3 and ov["departments"]["operations"]["at_risk"] == 0
    assert [b["count"] for b in ov["age_of_open_complaints"]] == [0, 0, 0, 0, 3]


def test_root_cause_task_is_completed_with_a_root_cause(api, complaints):
    cid = complaints[2]  # mortgage: operations and product, then service
    for dept in ("operations", "product", "service"):
        for t in api.get("manager", f"/complaints/{cid}").json()["tasks"]:
            if t["department"] == dept and t["status"] in ("open", "acknowledged", "in_progress"):
                r = api.post("manager", f"/tasks/{t['id']}/transitions", {"trigger": "complete", "outcome": "done"})
                assert r.status_code == 200, r.text
    d = api.get("manager", f"/complaints/{cid}").json()
    rc_task = next(t for t in d["tasks"] if t["kind"] == "root-cause")
    assert d["complaint"]["status"] != "resolved" and rc_task["status"] == "open"
    url = f"/tasks/{rc_task['id']}/transitions"
    r = api.post("manager", url, {"trigger": "complete"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "root_cause"
    code = next(iter(api.app.config.model.improvement.root_causes))
    r = api.post("manager", url, {"trigger": "complete", "root_cause": code, "outcome": "found it"})
    assert r.status_code == 200 and r.json()["task"]["status"] == "done"
    assert api.get("manager", f"/complaints/{cid}").json()["complaint"]["status"] == "resolved"
