"""An integration engineer's findings (reply6): reply idempotency, notify targets checked on input, and the
consistency of timestamps, merges, promises and the outbox's last error."""

from __future__ import annotations

import re
from datetime import timedelta
from importlib import resources

import pytest

from closeloop.config import ConfigError, parse_config
from closeloop.domain.customer import ContactPoint, CustomerProfile
from tests.integration.helpers import facts, intake

from .conftest import T0


def _error(r, status=422) -> dict:
    assert r.status_code == status, r.text
    return r.json()["error"]


@pytest.fixture
def reachable(api, config, clock):
    """A complaint whose customer has a consented e-mail address."""
    who = CustomerProfile("Ann Example", "en", "UTC", (ContactPoint("email", "ann@example.com", consent=True),))
    (cid,) = intake(api.app.sessions, config, clock.now(), [facts("RP-1", T0 - timedelta(hours=1),
                                                                  customer_ref="rp", customer=who)])
    return cid


def test_a_repeated_reply_answers_200_with_the_first_outbox_id_and_a_reused_key_is_a_422(api, reachable):
    url = f"/complaints/{reachable}/replies"
    first = api.post("manager", url, {"text": "We are checking.", "idempotency_key": "k1"})
    assert first.status_code == 201, first.text
    again = api.post("manager", url, {"text": "We are checking.", "idempotency_key": "k1"})
    assert again.status_code == 200 and again.json()["outbox_id"] == first.json()["outbox_id"] is not None
    assert again.json()["queued"] is False
    err = _error(api.post("manager", url, {"text": "Refund approved.", "idempotency_key": "k1"}))
    assert err["field"] == "idempotency_key"
    unkeyed = api.post("manager", url, {"text": "We are checking."})  # a double submit without the key
    assert unkeyed.status_code == 200 and unkeyed.json()["outbox_id"] == first.json()["outbox_id"]


def test_a_users_notify_target_its_sender_cannot_use_is_a_422_naming_notify(api):
    body = {"handle": "ftpuser", "name": "F", "role": "member", "departments": ["operations"], "notify": "ftp://x"}
    err = _error(api.post("admin", "/users", body))
    assert err["field"] == "notify" and "Apprise" in err["message"]
    ok = api.post("admin", "/users", body | {"notify": "slack://T1/B1/C1"})
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize(("old", "new", "field"), [
    ('display_name = "Operations"\nlead = "operations-lead"\nnotify = ""',
     'display_name = "Operations"\nlead = "operations-lead"\nnotify = "ftp://x"', "departments.operations.notify"),
    ('default_notify = "capture://notifications.jsonl"', 'default_notify = "ftp://x"', "escalation.default_notify"),
    ("[customers]\n", '[customers]\nchat_notify = "ftp://{handle}"\n', "customers.chat_notify")])
def test_a_configured_notify_target_its_sender_cannot_use_stops_the_configuration(old, new, field):
    text = resources.files("closeloop.config").joinpath("default.toml").read_text("utf-8")
    assert old in text
    parse_config(text.replace(old, old.replace("ftp://x", "slack://T1/B1/C1"), 1))  # the default loads
    with pytest.raises(ConfigError, match=rf"{re.escape(field)}.*Apprise does not understand"):
        parse_config(text.replace(old, new, 1))


def _resolved(api, cid):
    resolve = {"trigger": "resolve", "reason": "fixed",
               "root_cause": next(iter(api.app.config.model.improvement.root_causes))}
    r = api.post("manager", f"/complaints/{cid}/transitions", resolve)
    assert r.status_code == 200 and r.json()["resolved_at"] is not None, r.text


def test_a_reopened_complaint_has_no_resolved_at_and_the_next_resolution_stamps_it_again(api, complaints):
    cid = complaints[1]
    _resolved(api, cid)
    r = api.post("manager", f"/complaints/{cid}/transitions", {"trigger": "reopen", "reason": "customer called",
                                                               "department": "operations"})
    assert r.status_code == 200 and r.json()["status"] == "reopened" and r.json()["resolved_at"] is None
    assert api.get("manager", f"/complaints/{cid}").json()["complaint"]["resolved_at"] is None
    _resolved(api, cid)


def test_a_merge_needs_a_reason_naming_the_field(api, complaints):
    url = f"/complaints/{complaints[0]}/transitions"
    for body in ({"trigger": "merge", "into": complaints[1]}, {"trigger": "merge", "into": complaints[1],
                                                               "reason": "  "}):
        assert _error(api.post("manager", url, body))["field"] == "reason"
    assert api.post("manager", url, {"trigger": "merge", "into": complaints[1], "reason": "same"}).status_code == 200


def test_a_merged_complaint_takes_neither_a_promise_nor_compensation_both_naming_complaint(api, complaints):
    dup, survivor = complaints[0], complaints[1]
    assert api.post("manager", f"/complaints/{dup}/transitions",
                    {"trigger": "merge", "into": survivor, "reason": "same"}).status_code == 200
    promise = {"department": "operations", "kind": "call_back", "business_hours": 3}
    err = _error(api.post("manager", f"/complaints/{dup}/promises", promise))
    assert err["field"] == "complaint" and f"complaint {survivor}" in err["message"]
    comp = {"kind": "refund", "amount": "10.00", "currency": "USD"}
    assert _error(api.post("manager", f"/complaints/{dup}/compensation", comp))["field"] == "complaint"
    assert api.post("manager", f"/complaints/{survivor}/promises", promise).status_code == 201


def _instants(value, out):
    """Every string in a JSON value that reads as an ISO 8601 date-time."""
    if isinstance(value, dict):
        for v in value.values():
            _instants(v, out)
    elif isinstance(value, list):
        for v in value:
            _instants(v, out)
    elif isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T" and value[13] == ":":
        out.append(value)
    return out


def test_every_instant_the_api_answers_is_utc(api, complaints):
    """A promise due in business hours on a department calendar outside UTC came back with that zone's offset
    while every other instant was UTC: every answer's instants end in Z."""
    cid = complaints[0]
    made = api.post("manager", f"/complaints/{cid}/promises",
                    {"department": "operations", "kind": "call_back", "business_hours": 3})
    assert made.status_code == 201, made.text
    task = api.get("manager", "/departments/operations/tasks").json()["items"][0]["id"]
    answers = [made, api.get("manager", f"/complaints/{cid}/promises"), api.get("manager", f"/complaints/{cid}"),
               api.get("manager", "/complaints"), api.get("manager", f"/tasks/{task}"),
               api.get("manager", "/departments/operations/tasks"), api.get("manager", "/outbox"),
               api.get("manager", "/customers/c1"), api.get("admin", "/tokens"), api.get("manager", "/users"),
               api.get("manager", f"/complaints/{cid}/timeline"), api.get("manager", "/overview")]
    found = []
    for r in answers:
        assert r.status_code in (200, 201), (r.request.url, r.text)
        found += [(r.request.url.path, t) for t in _instants(r.json(), [])]
    # the exports (the timeline) write UTC as +00:00, their documented format (README "Exports")
    assert len(found) > 20 and [(u, t) for u, t in found if not t.endswith("Z")
                                and not (u.endswith("/timeline") and t.endswith("+00:00"))] == []
