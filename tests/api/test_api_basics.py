"""The skeleton: authentication, the error shape, intake idempotency, the queue, a task transition."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from closeloop.services.people.tokens import list_tokens, revoke_token
from models.tables import Transition

from .conftest import T0


def test_no_token_unknown_token_and_revoked_token_are_401_in_the_error_shape(api):
    r = api.client.get("/api/v1/me")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["error"]["code"] == "unauthorized"
    assert set(r.json()["error"]) == {"code", "message", "field", "details"}
    r = api.client.get("/api/v1/me", headers={"Authorization": "Bearer cl_nonsense"})
    assert r.status_code == 401
    me = api.get("member", "/me").json()
    assert (me["role"], me["department"], me["name"]) == ("member", "operations", "member")
    revoke_token(api.app.sessions, me["token_id"], at=T0)
    assert api.get("member", "/me").status_code == 401


def test_verify_records_last_use_from_the_injected_clock(api):
    api.get("lead", "/me")
    used = {t.name: t.last_used_at for t in list_tokens(api.app.sessions)}
    assert used["lead"] == api.app.clock.now()
    assert used["admin"] is None


def test_unknown_path_and_bad_input_use_the_one_error_shape(api):
    r = api.get("manager", "/nowhere")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = api.post("manager", "/complaints", json={"external_ref": "X"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] == "validation_error" and err["field"] == "received_at"
    r = api.post("manager", "/complaints", json={"external_ref": "X", "received_at": "2026-03-01T10:00:00"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "received_at"  # naive instant


def test_every_instant_filter_says_a_plain_date_needs_a_time_and_an_offset(api):
    """A plain date or an offset-less time, in any date filter or body instant: one message with an example."""
    for param in ("received_from", "received_to", "created_from", "created_to"):
        for value in ("2026-12-01", "2026-12-01T08:00:00", "yesterday"):
            r = api.get("manager", "/complaints", params={param: value})
            assert r.status_code == 422, (param, value)
            err = r.json()["error"]
            assert err["field"] == param and "2026-12-01T00:00:00Z" in err["message"], (param, value, err)
            assert "offset" in err["message"] and "timezone info" not in err["message"]
    r = api.get("manager", "/complaints", params={"received_from": "2026-12-01T00:00:00Z"})
    assert r.status_code == 200
    r = api.get("manager", "/complaints", params={"received_from": "1900-01-01T00:00:00Z"})
    assert r.status_code == 422 and "1970 to 2199" in r.json()["error"]["message"]
    r = api.post("manager", "/complaints", json={"external_ref": "X", "received_at": "2026-03-01"})
    assert r.status_code == 422 and "2026-12-01T00:00:00Z" in r.json()["error"]["message"]


def test_intake_is_idempotent_on_the_external_reference(api):
    body = {"external_ref": "EXT-1", "received_at": "2026-03-01T10:00:00+08:00", "product": "Credit reporting",
            "category": "Credit reporting", "text": "my report is wrong"}
    r1 = api.post("manager", "/complaints", json=body)
    assert r1.status_code == 201 and r1.json()["created"] is True
    r2 = api.post("manager", "/complaints", json={**body, "text": "again"})
    assert r2.status_code == 200 and r2.json()["created"] is False
    assert r2.json()["complaint"]["id"] == r1.json()["complaint"]["id"]
    assert r1.json()["complaint"]["received_at"].startswith("2026-03-01T02:00:00")
    with api.app.sessions() as s:
        actors = set(s.scalars(select(Transition.actor).where(
            Transition.complaint_id == r1.json()["complaint"]["id"])))
    assert actors == {"api:manager (manager)"}


def test_the_keys_are_taken_without_surrounding_space_so_a_trimmed_retry_is_the_same_complaint(api):
    """A client that sent ``"W-10 "`` and retries with ``"W-10"`` (or the reverse) gets the one complaint; the
    CSV import already read its cells trimmed. The customer key likewise: one customer, not two."""
    body = {"external_ref": "W-10 ", "received_at": "2026-03-01T10:00:00+08:00", "category": "Billing",
            "customer_ref": " cust-7"}
    r1 = api.post("manager", "/complaints", json=body)
    r2 = api.post("manager", "/complaints", json={**body, "external_ref": "W-10", "customer_ref": "cust-7 "})
    assert (r1.status_code, r2.status_code) == (201, 200), (r1.text, r2.text)
    assert r2.json()["complaint"]["id"] == r1.json()["complaint"]["id"]
    assert r1.json()["complaint"]["external_ref"] == "W-10"
    r3 = api.post("manager", "/complaints", json={**body, "external_ref": "W-11", "customer_ref": "cust-7"})
    with api.app.sessions() as s:
        from models.tables import Complaint

        customers = set(s.scalars(select(Complaint.customer_id).where(
            Complaint.id.in_([r1.json()["complaint"]["id"], r3.json()["complaint"]["id"]]))))
    assert len(customers) == 1 and None not in customers


def test_queue_and_acknowledge_record_the_actor(api, complaints):
    page = api.get("member", "/departments/operations/tasks").json()
    assert page["total"] == 3 and len(page["items"]) == 3
    task = page["items"][0]
    assert task["status"] == "open" and task["department"] == "operations"
    r = api.post("member", f"/tasks/{task['id']}/transitions", {"trigger": "acknowledge", "version": task["version"]})
    assert r.status_code == 200, r.text
    assert r.json()["task"]["status"] == "acknowledged"
    assert r.json()["task"]["version"] > task["version"]
    with api.app.sessions() as s:
        row = s.scalar(select(Transition).where(Transition.entity == "task", Transition.entity_id == task["id"],
                                                Transition.trigger == "acknowledge"))
    assert row.actor == "api:member (member@operations)"
    # the same stale version again: 409
    r = api.post("member", f"/tasks/{task['id']}/transitions", {"trigger": "start", "version": task["version"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"


def test_illegal_trigger_is_409_naming_the_current_state(api, complaints):
    task = api.get("member", "/departments/operations/tasks").json()["items"][0]
    r = api.post("member", f"/tasks/{task['id']}/transitions", {"trigger": "resume"})
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "illegal_transition" and err["details"][0]["state"] == "open"
    assert "'open'" in err["message"]


def test_if_match_carries_the_version(api, complaints):
    task = api.get("member", "/departments/operations/tasks").json()["items"][0]
    stale = {"If-Match": f'"{task["version"] + 5}"'}
    r = api.post("member", f"/tasks/{task['id']}/transitions", {"trigger": "start"}, headers=stale)
    assert r.status_code == 409
    ok = {"If-Match": f'W/"{task["version"]}"'}
    r = api.post("member", f"/tasks/{task['id']}/transitions", {"trigger": "start"}, headers=ok)
    assert r.status_code == 200 and r.json()["task"]["status"] == "in_progress"


def test_pause_until_must_be_aware_and_later(api, complaints):
    task = api.get("member", "/departments/operations/tasks").json()["items"][0]
    url = f"/tasks/{task['id']}/transitions"
    r = api.post("member", url, {"trigger": "pause", "reason": "waiting on bank", "until": "2026-03-02T00:00:00Z"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "until"
    until = (T0 + timedelta(days=2)).isoformat()
    r = api.post("member", url, {"trigger": "pause", "reason": "waiting on bank", "until": until})
    assert r.status_code == 200 and r.json()["task"]["status"] == "waiting"


@pytest.mark.parametrize("value", ["abc", "0", "²", "¹2", "W/\"³\"", "٣"])
def test_if_match_that_is_not_an_ascii_version_number_is_a_422_naming_it(value):
    """``str.isdigit`` is true for superscripts and other scripts' digits that ``int`` refuses: never a 500.
    (Called directly: the test client re-encodes a header's non-ASCII bytes, a server hands them over as sent.)"""
    from closeloop.api.deps import version_of
    from closeloop.api.errors import ApiError

    with pytest.raises(ApiError) as raised:
        version_of(None, value)
    assert (raised.value.status, raised.value.field) == (422, "If-Match")
    assert version_of(None, 'W/"3"') == 3


def test_a_path_id_in_another_scripts_digits_is_refused_not_a_500(api, complaints):
    r = api.get("manager", "/complaints/²")
    assert r.status_code == 422, r.text
