"""Issue 18, delivery that accounts honestly: attempts counted when sent, the limit held under crashed and
concurrent claims, dead letters (typed reason, one alert to the operations manager through the outbox) and
manual re-sends with the same idempotency key. Against the real local receiver, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest
from sqlalchemy import select

from closeloop.services.engine.delivery import DeadLetterAlert, RetryPolicy, claim, dead_letters, requeue
from closeloop.services.markdown import md_text
from models.tables import Outbox, Transition

from .receiver import Receiver, Reply
from .test_delivery import add, clock, deliver, path, row  # noqa: F401 - the clock fixture

ALERT = DeadLetterAlert("capture", "capture://ops-alerts", "operations-manager")
SHORT = RetryPolicy(max_attempts=3, min_span=timedelta(0))


@pytest.fixture(scope="module")
def receiver():
    rec = Receiver().start()
    yield rec
    rec.stop()


def alerts(sessions) -> list[Outbox]:
    with sessions() as s:
        return list(s.scalars(select(Outbox).where(Outbox.idempotency_key.like("outbox-dead:%"))
                              .order_by(Outbox.id)))


def test_exhausted_row_is_dead_lettered_alerted_once_and_retried_to_delivery_with_the_same_key(
        sessions, clock, receiver, tmp_path):  # noqa: F811 - the clock fixture from test_delivery
    p = path()
    url = receiver.script(p, Reply(500, body=b"down"), Reply(500, body=b"down"), Reply(500, body=b"down"),
                          Reply(200))
    [id_] = add(sessions, clock.now(), [url], subject="Escalation: complaint 7")
    for _ in range(3):
        deliver(sessions, clock, policy=SHORT, alert=ALERT, capture_dir=tmp_path)
        clock.advance(timedelta(hours=1))
    r = row(sessions, id_)
    assert (r.status, r.dead_reason, r.attempts) == ("dead", "exhausted", 3)
    assert r.dead_at is not None and "gave up after 3 attempts" in r.last_error
    assert dead_letters(sessions) == {"exhausted": 1}
    [a] = alerts(sessions)
    assert a.idempotency_key == f"outbox-dead:{id_}:0" and a.recipient == "operations-manager"
    assert "closeloop outbox retry" in a.body and r.idempotency_key in a.body
    assert a.payload["reason"] == "exhausted" and a.payload["outbox_id"] == id_

    report = deliver(sessions, clock, policy=SHORT, alert=ALERT, capture_dir=tmp_path)  # the alert goes out
    assert (report.claimed, report.delivered) == (1, 1)
    [line] = (tmp_path / "ops-alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["subject"] == "Not delivered: Escalation: complaint 7"
    assert len(receiver.hits(p)) == 3  # the dead letter waits for a person

    assert requeue(sessions, now=clock.now(), actor="cli:ops") == [id_]
    assert requeue(sessions, now=clock.now(), actor="cli:ops") == []  # nothing dead any more
    report = deliver(sessions, clock, policy=SHORT, alert=ALERT, capture_dir=tmp_path)
    assert report.delivered == 1
    r = row(sessions, id_)
    # every request that reached the receiver is counted, before and after the re-send (it showed 1)
    assert (r.status, r.attempts, r.attempts_at_requeue, r.requeues, r.dead_reason) == ("delivered", 4, 3, 1, None)
    hits = receiver.hits(p)
    assert [h.action.status for h in hits] == [500, 500, 500, 200] and len(hits) == r.attempts
    assert {h.key for h in hits} == {r.idempotency_key}  # the same key before and after the re-send
    assert len(alerts(sessions)) == 1  # alerted once
    with sessions() as s:
        [audit] = s.scalars(select(Transition).where(Transition.entity == "outbox")).all()
    assert (audit.entity_id, audit.from_state, audit.to_state, audit.trigger, audit.actor) == (
        id_, "dead", "pending", "retry", "cli:ops")


def test_a_resent_row_that_still_fails_gets_a_full_round_and_keeps_its_count(
        sessions, clock, receiver, tmp_path):  # noqa: F811 - the clock fixture from test_delivery
    p = path()
    url = receiver.script(p, *[Reply(500, body=b"down")] * 6)
    [id_] = add(sessions, clock.now(), [url])
    for _round in range(2):
        for _ in range(3):
            deliver(sessions, clock, policy=SHORT, alert=ALERT, capture_dir=tmp_path)
            clock.advance(timedelta(hours=1))
        r = row(sessions, id_)
        assert r.status == "dead" and "gave up after 3 attempts" in r.last_error  # the round's own count
        if _round == 0:
            assert requeue(sessions, now=clock.now(), actor="cli:ops") == [id_]
    assert (r.attempts, r.requeues, len(receiver.hits(p))) == (6, 1, 6)
    assert requeue(sessions, now=clock.now(), actor="cli:ops") == [id_]
    [msg] = [m for m in claim(sessions, worker="w", now=clock.now(), limit=5, policy=SHORT) if m.id == id_]
    assert (msg.attempt, msg.claim) == (1, 7)  # a fresh budget; the claim number still moves forward


def test_rejected_row_is_dead_at_once_and_an_alert_is_never_alerted_about(sessions, clock, receiver):  # noqa: F811 - the clock fixture from test_delivery
    p = path()
    url = receiver.script(p, Reply(404, body=b"no such hook"))
    [id_] = add(sessions, clock.now(), [url])
    bad_alert = DeadLetterAlert("webhook", url, "operations-manager")  # the manager's hook is gone too
    deliver(sessions, clock, alert=bad_alert)
    assert (row(sessions, id_).status, row(sessions, id_).dead_reason) == ("dead", "rejected")
    [a] = alerts(sessions)
    deliver(sessions, clock, alert=bad_alert)
    assert (row(sessions, a.id).status, row(sessions, a.id).dead_reason) == ("dead", "rejected")
    assert len(alerts(sessions)) == 1  # no alert about the alert
    assert dead_letters(sessions) == {"rejected": 2}


def test_crashed_claims_are_not_attempts_and_a_row_that_kills_its_workers_is_dead_lettered(sessions, clock):  # noqa: F811 - the clock fixture from test_delivery
    policy = RetryPolicy(max_attempts=3, max_abandoned=4, min_span=timedelta(0))
    [id_] = add(sessions, clock.now(), ["capture://x"], channel="capture")
    lease = timedelta(minutes=5)
    for n in range(4):  # four workers claim it and die before recording
        [msg] = claim(sessions, worker=f"dies-{n}", now=clock.now(), limit=5, lease=lease, policy=policy)
        assert (msg.attempt, msg.claim) == (1, n + 1)  # still the first attempt
        clock.advance(lease)
    r = row(sessions, id_)
    assert (r.status, r.attempts, r.claims) == ("sending", 0, 4)
    got = claim(sessions, worker="next", now=clock.now(), limit=5, lease=lease, policy=policy, alert=ALERT)
    assert [m.idempotency_key for m in got] == [f"outbox-dead:{id_}:0"]  # only the alert, sent at once
    r = row(sessions, id_)
    assert (r.status, r.dead_reason, r.attempts) == ("dead", "abandoned", 0)
    assert "dies-3" in r.last_error
    assert [a.idempotency_key for a in alerts(sessions)] == [f"outbox-dead:{id_}:0"]


def test_attempt_limit_holds_when_leases_expire_under_concurrent_workers(sessions, clock):  # noqa: F811 - the clock fixture from test_delivery
    """Workers whose leases run out send late results: only the current claim's result counts, so the
    recorded attempts never pass the limit (they reached 9-10 before)."""
    from closeloop.services.engine.delivery import record
    from integrations.outbound import SendResult

    [id_] = add(sessions, clock.now(), ["capture://x"], channel="capture")
    lease = timedelta(minutes=5)
    held = []
    for n in range(6):
        held += [(m, n) for m in claim(sessions, worker=f"w{n}", now=clock.now(), limit=5, lease=lease,
                                       policy=SHORT)]
        clock.advance(lease)
    for msg, n in held:  # every late worker reports a failure
        record(sessions, [(msg, SendResult("retry", error="HTTP 503"))], worker=f"w{n}", now=clock.now(),
               policy=SHORT)
    r = row(sessions, id_)
    assert r.attempts <= SHORT.max_attempts
    assert (r.attempts, r.claims) == (1, 6)  # only the last claim was still held


def test_a_receiver_down_for_a_day_loses_nothing(sessions, clock, receiver, tmp_path):  # noqa: F811 - the clock fixture from test_delivery
    """Default schedule against a closed port: 20 attempts over more than 24 hours, then the dead letter;
    once the receiver is back, the re-send is delivered."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    [id_] = add(sessions, clock.now(), [f"http://127.0.0.1:{port}/hook"])
    first = clock.now()
    while row(sessions, id_).status != "dead":
        deliver(sessions, clock, alert=ALERT, capture_dir=tmp_path)
        r = row(sessions, id_)
        if r.status == "pending":
            clock.set(r.next_attempt_at)
        assert r.attempts <= 20
    r = row(sessions, id_)
    assert (r.attempts, r.dead_reason) == (20, "exhausted")
    assert r.dead_at - first >= timedelta(hours=24)
    p = path()
    with sessions.begin() as s:
        s.get(Outbox, id_).target = receiver.script(p, Reply(200))  # the receiver is back (same key)
    requeue(sessions, now=clock.now(), actor="test", ids=[id_])
    deliver(sessions, clock, alert=ALERT, capture_dir=tmp_path)
    assert row(sessions, id_).status == "delivered"
    assert [h.key for h in receiver.hits(p)] == [r.idempotency_key]


def test_the_dead_letter_alert_speaks_the_operations_managers_language(sessions, clock, receiver, tmp_path):  # noqa: F811 - the clock fixture from test_delivery
    """A manager configured with ``language = "zh"`` gets the alert in Chinese (subject, text, reason); only
    ids, names, the error as received and the command stay as they are."""
    import re

    from closeloop.config import parse_config
    from closeloop.services.engine.notify import dead_letter_alert

    text = (load_default_text().replace(
        'operations_manager = { name = "operations-manager", calendar = "default" }',
        'operations_manager = { name = "王经理", calendar = "default", language = "zh", '
        'notify = "capture://ops-alerts" }'))
    alert = dead_letter_alert(parse_config(text, "zh-manager.toml"))
    assert alert == DeadLetterAlert("capture", "capture://ops-alerts", "王经理", "zh")
    url = receiver.script(path(), Reply(410, body=b"gone"))
    [id_] = add(sessions, clock.now(), [url], subject="Escalation: complaint 7")
    deliver(sessions, clock, alert=alert, capture_dir=tmp_path)
    r = row(sessions, id_)
    [a] = alerts(sessions)
    assert a.subject == "未送达：Escalation: complaint 7"
    assert "接收方拒收" in a.body and f"`closeloop outbox retry {id_}`" in a.body
    values = [r.idempotency_key, r.recipient, "webhook", r.last_error, f"closeloop outbox retry {id_}"]
    rest = a.body
    for v in values:
        rest = rest.replace(md_text(v), "").replace(v, "")
    assert re.findall(r"[A-Za-z]+", rest) == [], rest


def load_default_text() -> str:
    from importlib import resources

    return resources.files("closeloop.config").joinpath("default.toml").read_text("utf-8")
