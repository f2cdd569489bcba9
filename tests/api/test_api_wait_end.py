"""A wait on the customer with both ``until`` and ``max_business_hours`` ends at the earlier of the two: the
sweep's timer did so, the customer's ``waiting`` notice stated the ``until`` (later) and the API said nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from closeloop.services.customers.milestones import _until
from closeloop.services.engine.schedule import wanted_timers
from models.tables import Complaint, Transition

from .conftest import T0


def _ends(api, cid: int) -> tuple[datetime | None, datetime | None]:
    """(the sweep's pause_expired instant, the end the customer's waiting notice states)."""
    config, now = api.app.config, api.app.clock.now()
    with api.app.sessions() as s:
        timers = [w.fire_at for w in wanted_timers(s, s.get_one(Complaint, cid), config, now)
                  if w.kind == "pause_expired"]
        row = s.scalars(select(Transition).where(Transition.entity == "complaint", Transition.entity_id == cid,
                                                 Transition.trigger == "await_customer")).one()
        told = _until(config, row)
    assert len(timers) <= 1
    return (timers[0] if timers else None), told


@pytest.mark.parametrize("hours, until_days", [(8, 30), (400, 1)])
def test_both_ends_given_the_earlier_applies_for_the_sweep_and_the_customer(api, complaints, hours, until_days):
    until = (T0 + timedelta(days=until_days)).astimezone(UTC)
    r = api.post("manager", f"/complaints/{complaints[0]}/wait",
                 {"reason": "documents", "until": until.isoformat(), "max_business_hours": hours})
    assert r.status_code == 200 and r.json()["status"] == "awaiting_customer", r.text
    by_hours = api.app.config.customer_calendar.add_business_time(api.app.clock.now(), timedelta(hours=hours))
    expected = min(by_hours, until)
    timer, told = _ends(api, complaints[0])
    assert timer == told == expected


def test_the_documents_say_the_earlier_applies(api):
    props = api.client.get("/api/v1/openapi.json").json()["components"]["schemas"]["WaitIn"]["properties"]
    assert "the earlier of the two applies" in props["until"]["description"]
    assert "the earlier applies" in props["max_business_hours"]["description"]
