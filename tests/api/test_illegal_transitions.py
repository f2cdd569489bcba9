"""A 409 for an illegal trigger lists what the caller can send in that state: the API's triggers (never the
system's, such as a task's ``block``, ``unblock`` or ``reopen``) that the caller's role may use; none left, it
says so plainly. The error shape stays ``{code, message, field, details}``."""

from __future__ import annotations


def _tasks(api) -> dict[str, dict]:
    """The credit-reporting complaint A-1's tasks by kind: operations ``investigate`` (open), service ``respond``
    (blocked until the investigation is done)."""
    items = api.get("manager", "/departments/operations/tasks").json()["items"] + \
        api.get("manager", "/departments/service/tasks?status=blocked").json()["items"]
    return {t["kind"]: t for t in items if t["complaint_id"] == 1}


def _refusal(r) -> tuple[str, list[str]]:
    assert r.status_code == 409, r.text
    err = r.json()["error"]
    assert set(err) == {"code", "message", "field", "details"}
    assert (err["code"], err["field"]) == ("illegal_transition", "trigger")
    assert err["details"][0]["allowed"] == sorted(err["details"][0]["allowed"])
    return err["message"], err["details"][0]["allowed"]


def test_an_open_task_lists_the_triggers_the_callers_role_may_send(api, complaints):
    task = _tasks(api)["investigate"]
    assert task["status"] == "open"
    url = f"/tasks/{task['id']}/transitions"
    message, allowed = _refusal(api.post("member", url, {"trigger": "resume"}))
    assert allowed == ["acknowledge", "complete", "pause", "start", "transfer"]  # no block; a member may not cancel
    assert message == ("task in state 'open' cannot take trigger 'resume'; "
                       "allowed triggers: acknowledge, complete, pause, start, transfer")
    assert _refusal(api.post("lead", url, {"trigger": "resume"}))[1] == [
        "acknowledge", "cancel", "complete", "pause", "start", "transfer"]
    assert _refusal(api.post("manager", url, {"trigger": "resume"}))[1] == [
        "acknowledge", "cancel", "complete", "pause", "start", "transfer"]
    refused = api.post("member", url, {"trigger": "block"})  # what the old message offered
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "validation_error"


def test_a_blocked_task_does_not_offer_unblock_and_a_done_one_offers_nothing(api, complaints):
    tasks = _tasks(api)
    respond, investigate = tasks["respond"], tasks["investigate"]
    message, allowed = _refusal(api.post("manager", f"/tasks/{respond['id']}/transitions", {"trigger": "start"}))
    assert allowed == ["cancel", "transfer"]
    assert message.endswith("'blocked' cannot take trigger 'start'; allowed triggers: cancel, transfer")
    done = api.post("manager", f"/tasks/{investigate['id']}/transitions", {"trigger": "complete", "outcome": "fixed"})
    assert done.status_code == 200 and done.json()["task"]["status"] == "done"
    message, allowed = _refusal(api.post("manager", f"/tasks/{investigate['id']}/transitions", {"trigger": "start"}))
    assert allowed == []  # only the engine reopens a done task
    assert message == ("task in state 'done' cannot take trigger 'start'; "
                       "no trigger you can use is allowed in this state")


def test_a_complaint_lists_only_the_complaint_triggers_of_the_api(api, complaints):
    complaint = api.get("manager", "/complaints/1").json()["complaint"]
    assert complaint["status"] == "triaged"
    message, allowed = _refusal(api.post("manager", "/complaints/1/transitions", {"trigger": "close", "reason": "x"}))
    assert allowed == ["merge", "resolve"]  # not the engine's start or await_customer (POST .../wait)
    assert message == "complaint in state 'triaged' cannot take trigger 'close'; allowed triggers: merge, resolve"
