"""Issue 14: the overview counts the open complaints past the customer promise (it said "0 breached"
while every complaint of the demo database was past it: that figure counts tasks)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from models.tables import Complaint


def test_overview_counts_promise_breaches(api, complaints):
    ov = api.get("manager", "/overview").json()
    assert ov["promise_breached"] == 0 and ov["open_complaints"] == 3
    with api.app.sessions.begin() as s:  # one complaint's promise fell due a minute ago; one is closed
        now = api.app.clock.now()
        s.execute(update(Complaint).where(Complaint.id == complaints[0]).values(due_at=now - timedelta(minutes=1)))
        s.execute(update(Complaint).where(Complaint.id == complaints[1]).values(due_at=now + timedelta(minutes=1)))
    assert api.get("manager", "/overview").json()["promise_breached"] == 1
    api.app.clock.advance(timedelta(days=90))
    ov = api.get("manager", "/overview").json()
    assert ov["promise_breached"] == ov["open_complaints"] == 3
    with api.app.sessions.begin() as s:
        s.execute(update(Complaint).where(Complaint.id == complaints[2]).values(status="closed"))
    assert api.get("manager", "/overview").json()["promise_breached"] == 2  # closed ones are not counted
