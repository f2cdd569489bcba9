"""Issue 18: dead letters are visible in the API (list, overview) and a manager re-sends them with the same key."""

from __future__ import annotations

from sqlalchemy import select

from models.tables import Outbox, Transition

from .conftest import T0


def _dead(api, key="k:dead", reason="exhausted") -> int:
    with api.app.sessions.begin() as s:
        row = Outbox(idempotency_key=key, channel="webhook", target="https://example.invalid/h", recipient="lead",
                     subject="Escalation", body="b", payload={}, status="dead", dead_reason=reason, dead_at=T0,
                     attempts=20, next_attempt_at=T0, created_at=T0, last_error="gave up after 20 attempts")
        s.add(row)
        s.flush()
        return row.id


def test_dead_letters_listed_in_overview_and_retried_by_a_manager_only(api):
    id_ = _dead(api)
    _dead(api, "k:gone", "rejected")
    page = api.get("manager", "/outbox?status=dead").json()
    assert page["total"] == 2 and {i["dead_reason"] for i in page["items"]} == {"exhausted", "rejected"}
    assert api.get("manager", "/overview").json()["dead_letters"] == {"exhausted": 1, "rejected": 1}
    for role in ("member", "lead", "admin"):
        assert api.get(role, "/outbox").status_code == 403
        assert api.post(role, f"/outbox/{id_}/retry").status_code == 403

    r = api.post("manager", f"/outbox/{id_}/retry")
    assert r.status_code == 200
    body = r.json()
    assert (body["status"], body["idempotency_key"], body["requeues"], body["attempts"], body["dead_reason"]) == (
        "pending", "k:dead", 1, 20, None)  # the 20 earlier attempts are kept
    again = api.post("manager", f"/outbox/{id_}/retry")
    assert again.status_code == 409 and again.json()["error"]["details"][0]["state"] == "pending"
    assert api.post("manager", "/outbox/999999/retry").status_code == 404
    assert api.get("manager", "/overview").json()["dead_letters"] == {"rejected": 1}
    assert api.get("manager", "/outbox?status=nope").status_code == 422
    with api.app.sessions() as s:
        audit = s.scalars(select(Transition).where(Transition.entity == "outbox")).one()
    assert (audit.entity_id, audit.trigger, audit.actor) == (id_, "retry", "api:manager (manager)")
