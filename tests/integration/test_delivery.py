"""Outbox delivery against a real HTTP receiver on 127.0.0.1 (CASES.md K6: C23), on SQLite and PostgreSQL.

Time is driven by :class:`FixedClock`; the only waits are the scripted
receivers' (a 0.2 s slow answer, a 0.2 s read timeout, a 0.3 s deadline), and
nothing asserts on elapsed wall time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import socket
import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from uuid import uuid4

import httpx
import pytest
from sqlalchemy import select

from closeloop.clock import FixedClock
from closeloop.services.engine.delivery import RetryPolicy, claim, deliver_once, record
from integrations.senders import (
    SIGNATURE_HEADER,
    CaptureSender,
    Http1Transport,
    OutgoingMessage,
    RoutingSender,
    SendResult,
    SpreadTransport,
    WebhookSender,
    make_webhook_client,
    parse_retry_after,
    verify_signature,
)
from models.tables import Outbox

from .receiver import Hang, Receiver, Reply, Trickle

SECRET = b"test-secret"
T0 = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)  # Tue 10:00 in Shanghai
ZH = "投诉 #1024 已升级至主管"


@pytest.fixture(scope="module")
def receiver():
    rec = Receiver().start()
    yield rec
    rec.stop()


@pytest.fixture
def clock():
    return FixedClock(T0)


def path() -> str:
    return f"/hook/{uuid4().hex[:12]}"


def add(sessions, now, targets, *, channel="webhook", subject="Reminder", body="Task 12 is due", keys=None):
    """Insert outbox rows as the sweep does (pending, due now); returns their ids."""
    rows = [Outbox(idempotency_key=(keys[i] if keys else f"test:{uuid4().hex}"), channel=channel, target=t,
                   recipient="ops-lead", subject=subject, body=body, payload={"complaint": 1024, "n": i},
                   status="pending", attempts=0, next_attempt_at=now, created_at=now)
            for i, t in enumerate(targets)]
    with sessions.begin() as s:
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def row(sessions, id_) -> Outbox:
    with sessions() as s:
        return s.get(Outbox, id_)


# a hang guard only, so that a loaded machine cannot fail a test; the tests of deadlines pass their own
GUARD_S = 300.0


def client(deadline=GUARD_S, read=None, pools=4, spread=False) -> httpx.AsyncClient:
    """The chosen layout; with ``read``, an ``AsyncClient`` over the same transport with that read timeout
    (``spread``: over the earlier :class:`SpreadTransport` instead)."""
    if read is None:
        return make_webhook_client(deadline, pools=pools)
    transport = SpreadTransport(pools, 2, verify=False) if spread else Http1Transport(max_connections=pools * 2)
    return httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(deadline, read=read))


def deliver(sessions, clock, *, worker="w1", deadline=GUARD_S, read=None, capture_dir=None, wrap=None, pools=4,
            spread=False, **kw):
    async def go():
        async with client(deadline, read, pools, spread) as c:
            senders: dict = {"webhook": WebhookSender(c, SECRET, deadline, clock=clock.now)}
            if capture_dir is not None:  # never the checkout: a test that sends capture rows passes its tmp_path
                senders["capture"] = CaptureSender(capture_dir)
            sender = RoutingSender(senders)
            return await deliver_once(sessions, wrap(sender) if wrap else sender, clock, worker=worker,
                                      rng=random.Random(7), **kw)
    return asyncio.run(go())


# --- C23: 503, 503, 200 ---------------------------------------------------------------------------

def test_c23_flapping_receiver_three_attempts_same_key_one_message(sessions, clock, receiver):
    p = path()
    url = receiver.script(p, Reply(503, {"Retry-After": "60"}, b"busy"), Reply(503, body=b"busy"), Reply(200))
    [id_] = add(sessions, clock.now(), [url], subject=ZH, body=ZH)

    first = deliver(sessions, clock)
    assert (first.claimed, first.retried, first.delivered) == (1, 1, 0)
    r = row(sessions, id_)
    assert (r.status, r.attempts) == ("pending", 1)
    assert r.next_attempt_at == T0 + timedelta(seconds=60)  # Retry-After beats the 30-60 s first step
    assert "HTTP 503" in r.last_error and "busy" in r.last_error

    assert deliver(sessions, clock).claimed == 0  # not due yet: no hammering
    clock.advance(timedelta(seconds=60))
    second = deliver(sessions, clock)
    assert second.retried == 1
    r = row(sessions, id_)
    assert (r.status, r.attempts) == ("pending", 2)
    assert timedelta(seconds=60) <= r.next_attempt_at - clock.now() <= timedelta(seconds=120)

    clock.set(r.next_attempt_at)
    third = deliver(sessions, clock)
    assert third.delivered == 1
    r = row(sessions, id_)
    assert (r.status, r.attempts, r.delivered_at) == ("delivered", 3, clock.now())
    assert r.last_error is None  # the error of a failed attempt is not the delivered message's (reply6)

    hits = receiver.hits(p)
    assert [h.action.status for h in hits] == [503, 503, 200]
    assert {h.key for h in hits} == {r.idempotency_key}  # the same key on every attempt
    assert receiver.shown(p) == 1
    assert json.loads(hits[-1].body)["body"] == ZH


def test_c23_httpx_transport_retries_do_not_retry_503(receiver):
    """Why retries are ours: httpx's ``retries=3`` only covers connecting (verified, CASES.md C23)."""
    p = path()
    url = receiver.script(p, Reply(503))

    async def go():
        async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(retries=3)) as c:
            return (await c.post(url, content=b"{}")).status_code
    assert asyncio.run(go()) == 503
    assert len(receiver.hits(p)) == 1


@pytest.mark.parametrize("spread", [False, True], ids=["http1", "spread"])
def test_c23_read_timeout_after_body_sent_is_unknown_and_resent_with_same_key(sessions, clock, receiver, spread):
    p = path()
    url = receiver.script(p, Hang(), Reply(200))
    [id_] = add(sessions, clock.now(), [url])

    first = deliver(sessions, clock, read=0.2, spread=spread)
    assert first.unknown == 1 and first.delivered == 0
    r = row(sessions, id_)
    assert r.status == "unknown" and "ReadTimeout" in r.last_error and "may have it" in r.last_error
    assert receiver.shown(p) == 1  # the receiver had processed it

    clock.set(r.next_attempt_at)
    assert deliver(sessions, clock, read=0.2, spread=spread).delivered == 1
    hits = receiver.hits(p)
    assert len(hits) == 2 and hits[0].key == hits[1].key == r.idempotency_key
    assert receiver.shown(p) == 1  # one visible message
    assert row(sessions, id_).status == "delivered"


def test_total_deadline_stops_a_trickling_receiver_that_per_operation_timeouts_allow(sessions, clock, receiver):
    p = path()
    url = receiver.script(p, Trickle(interval=0.05, lines=40))  # 2 s in all, every read well under 1 s
    [id_] = add(sessions, clock.now(), [url])
    report = deliver(sessions, clock, deadline=0.3, read=1.0)  # without the deadline: 200 after 2 s
    assert report.unknown == 1
    r = row(sessions, id_)
    assert r.status == "unknown" and "0.3 s deadline" in r.last_error


def test_slow_receiver_within_the_deadline_is_delivered_concurrently(sessions, clock, receiver):
    p = path()
    url = receiver.script(p, Reply(200, delay=0.2))
    ids = add(sessions, clock.now(), [url] * 20)
    report = deliver(sessions, clock, concurrency=20, pools=10)
    assert report.delivered == 20
    assert receiver.peak[p] >= 10  # in parallel, not in series
    assert {row(sessions, i).status for i in ids} == {"delivered"}


# --- classification -------------------------------------------------------------------------------

def test_4xx_fails_at_once_and_keeps_the_error(sessions, clock, receiver):
    p = path()
    url = receiver.script(p, Reply(400, body='{"error":"unknown recipient 张伟"}'.encode()))
    [id_] = add(sessions, clock.now(), [url])
    report = deliver(sessions, clock)
    assert (report.dead, report.rejected, report.retried, report.unknown) == (1, 1, 0, 0)
    r = row(sessions, id_)
    assert (r.status, r.dead_reason, r.attempts, r.delivered_at) == ("dead", "rejected", 1, None)
    assert "HTTP 400" in r.last_error and "unknown recipient 张伟" in r.last_error
    clock.advance(timedelta(days=2))
    assert deliver(sessions, clock).claimed == 0
    assert len(receiver.hits(p)) == 1


def test_429_retry_after_seconds_and_http_date_are_honoured(sessions, clock, receiver):
    p1, p2 = path(), path()
    date = datetime(2026, 3, 10, 2, 0, 5, tzinfo=UTC)
    u1 = receiver.script(p1, Reply(429, {"Retry-After": "120"}))
    u2 = receiver.script(p2, Reply(429, {"Date": format_datetime(date, usegmt=True),
                                         "Retry-After": format_datetime(date + timedelta(minutes=5), usegmt=True)}))
    a, b = add(sessions, clock.now(), [u1, u2])
    assert deliver(sessions, clock).retried == 2
    assert row(sessions, a).next_attempt_at == T0 + timedelta(seconds=120)
    assert row(sessions, b).next_attempt_at == T0 + timedelta(seconds=300)  # measured from the Date header
    assert row(sessions, a).status == "pending" and "HTTP 429" in row(sessions, a).last_error


def test_connection_refused_is_retried_nothing_was_sent(sessions, clock):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    [id_] = add(sessions, clock.now(), [f"http://127.0.0.1:{port}/gone"])
    assert deliver(sessions, clock).retried == 1
    r = row(sessions, id_)
    assert r.status == "pending" and "ConnectError" in r.last_error and "nothing was sent" in r.last_error


def test_gives_up_after_max_attempts(sessions, clock, receiver):
    p = path()
    url = receiver.script(p, Reply(500, body=b"boom"))
    [id_] = add(sessions, clock.now(), [url])
    policy = RetryPolicy(max_attempts=3, min_span=timedelta(0))
    for _ in range(3):
        deliver(sessions, clock, policy=policy)
        clock.advance(timedelta(hours=2))
    r = row(sessions, id_)
    assert (r.status, r.dead_reason, r.attempts) == ("dead", "exhausted", 3)
    assert r.last_error.startswith("gave up after 3 attempts") and "HTTP 500: boom" in r.last_error
    assert deliver(sessions, clock, policy=policy).claimed == 0
    assert len(receiver.hits(p)) == 3


def test_signature_headers_and_chinese_text_arrive_intact(sessions, clock, receiver):
    p = path()
    url = receiver.script(p, Reply(204, body=b""))
    [id_] = add(sessions, clock.now(), [url], subject=ZH, body=f"{ZH}\n请在今天 17:00 前处理。",
                keys=["escalation:1024:1"])
    assert deliver(sessions, clock).delivered == 1
    [hit] = receiver.hits(p)
    assert hit.headers["idempotency-key"] == "escalation:1024:1"
    assert hit.headers["content-type"] == "application/json; charset=utf-8"
    expected = "sha256=" + hmac.new(SECRET, hit.body, hashlib.sha256).hexdigest()
    assert hit.headers[SIGNATURE_HEADER.lower()] == expected
    assert verify_signature(SECRET, hit.body, hit.headers[SIGNATURE_HEADER.lower()])
    assert not verify_signature(SECRET, hit.body.replace(b"1024", b"1025"), expected)
    assert not verify_signature(b"other", hit.body, expected)
    assert ZH.encode("utf-8") in hit.body  # raw UTF-8, not \\u escapes
    doc = json.loads(hit.body.decode("utf-8"))
    assert doc == {"id": id_, "idempotency_key": "escalation:1024:1", "recipient": "ops-lead", "subject": ZH,
                   "body": f"{ZH}\n请在今天 17:00 前处理。", "payload": {"complaint": 1024, "n": 0}}


def test_receivers_cannot_set_cookies_on_later_webhooks(receiver):
    p = path()
    url = receiver.script(p, Reply(200, {"Set-Cookie": "session=abc; Path=/"}))

    async def twice(c):
        async with c:
            sender = WebhookSender(c, SECRET, 2.0)
            for i in (1, 2):
                assert (await sender.send(OutgoingMessage(i, f"k:{p}:{i}", "webhook", url, "r", "s", "b"))).outcome \
                    == "delivered"
    asyncio.run(twice(make_webhook_client(2.0, pools=1)))
    asyncio.run(twice(httpx.AsyncClient()))  # for contrast: a stock client keeps and resends it
    assert ["cookie" in h.headers for h in receiver.hits(p)] == [False, False, False, True]


# --- crashes and concurrency ------------------------------------------------------------------------

def test_worker_killed_between_send_and_record_is_resent_with_same_key_never_lost(sessions, clock, receiver):
    p = path()
    url = receiver.script(p, Reply(200))
    [id_] = add(sessions, clock.now(), [url])
    lease = timedelta(minutes=5)

    async def send_only(msgs):  # worker A: claims and sends, then "dies" before record()
        async with client() as c:
            sender = WebhookSender(c, SECRET, 2.0)
            return [(m, await sender.send(m)) for m in msgs]
    msgs = claim(sessions, worker="A", now=clock.now(), limit=10, lease=lease)
    results = asyncio.run(send_only(msgs))
    assert [r.outcome for _, r in results] == ["delivered"]
    r = row(sessions, id_)
    assert (r.status, r.claimed_by, r.attempts, r.claims) == ("sending", "A", 0, 1)  # a claim is no attempt

    assert deliver(sessions, clock, worker="B").claimed == 0  # A's lease still holds
    clock.advance(lease + timedelta(seconds=1))
    report = deliver(sessions, clock, worker="B")
    assert (report.claimed, report.delivered) == (1, 1)
    r = row(sessions, id_)
    assert (r.status, r.claimed_by, r.attempts, r.claims) == ("delivered", "B", 1, 2)
    assert r.last_error is None  # cleared on delivery: the takeover shows as 2 claims against 1 attempt

    late = record(sessions, results, worker="A", now=clock.now())  # A comes back: its claim is gone
    assert (late.delivered, late.stale) == (0, 1)
    assert row(sessions, id_).claimed_by == "B"
    hits = receiver.hits(p)
    assert len(hits) == 2 and hits[0].key == hits[1].key  # at most a resend, same key
    assert receiver.shown(p) == 1


def test_concurrent_claims_never_share_a_row(sessions, clock):
    ids = add(sessions, clock.now(), ["capture://x"] * 300, channel="capture")
    got: dict[str, list[int]] = {}
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def work(name):
        try:
            barrier.wait()
            mine = got.setdefault(name, [])
            while batch := claim(sessions, worker=name, now=clock.now(), limit=7, lease=timedelta(minutes=5)):
                mine.extend(m.id for m in batch)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    claimed = [i for mine in got.values() for i in mine]
    assert len(claimed) == len(set(claimed)) == 300 and set(claimed) == set(ids)
    with sessions() as s:
        owners = dict(s.execute(select(Outbox.id, Outbox.claimed_by)).all())
    assert all(owners[i] == name for name, mine in got.items() for i in mine)


def test_two_workers_deliver_every_row_exactly_once(sessions, clock, receiver, engine):
    p = path()
    url = receiver.script(p, Reply(200))
    ids = add(sessions, clock.now(), [url] * 300)
    sent: dict[str, list[int]] = {"A": [], "B": []}
    reports, errors = {}, []
    start = threading.Barrier(2)

    class Recording:
        def __init__(self, inner, name):
            self.inner, self.name = inner, name

        async def send(self, msg):
            sent[self.name].append(msg.id)
            return await self.inner.send(msg)

    def work(name):
        try:
            start.wait()
            reports[name] = deliver(sessions, clock, worker=name, batch=20, concurrency=10,
                                    wrap=lambda s: Recording(s, name))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
    threads = [threading.Thread(target=work, args=(n,)) for n in sent]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert not set(sent["A"]) & set(sent["B"])
    assert sorted(sent["A"] + sent["B"]) == ids
    assert reports["A"].delivered + reports["B"].delivered == 300
    keys = [h.key for h in receiver.hits(p)]
    assert len(keys) == len(set(keys)) == 300  # each row sent once, not merely shown once
    with sessions() as s:
        assert set(s.scalars(select(Outbox.status)).all()) == {"delivered"}
    if engine.dialect.name == "postgresql":
        assert sent["A"] and sent["B"]  # both really worked (SKIP LOCKED, no waiting)


# --- other senders ----------------------------------------------------------------------------------

def test_capture_sender_writes_jsonl(sessions, clock, tmp_path):
    absolute = tmp_path / "abs" / "out.jsonl"
    ids = add(sessions, clock.now(), ["capture://demo", f"capture://{absolute}", "capture://../escape"],
              channel="capture", subject=ZH, body=ZH)
    report = deliver(sessions, clock, capture_dir=tmp_path / "cap")
    assert (report.delivered, report.rejected) == (2, 1)
    assert report.signed == 0  # capture rows carry no signature
    [line] = (tmp_path / "cap" / "demo.jsonl").read_text(encoding="utf-8").splitlines()
    doc = json.loads(line)
    assert (doc["id"], doc["subject"], doc["body"], doc["channel"]) == (ids[0], ZH, ZH, "capture")
    assert json.loads(absolute.read_text(encoding="utf-8"))["id"] == ids[1]
    assert "leaves the capture directory" in row(sessions, ids[2]).last_error
    assert row(sessions, ids[2]).status == "dead"


def test_apprise_json_url_reaches_a_local_receiver(receiver):
    pytest.importorskip("apprise")
    from integrations.senders import AppriseSender

    p = path()
    receiver.script(p, Reply(200))
    msg = OutgoingMessage(1, "k:apprise", "apprise", f"json://127.0.0.1:{receiver.port}{p}", "lead", ZH, ZH)
    routing = RoutingSender({"apprise": AppriseSender(deadline_s=None)})  # send() returns once the receiver answered
    assert asyncio.run(routing.send(msg)).outcome == "delivered"
    [hit] = receiver.hits(p)
    doc = json.loads(hit.body.decode("utf-8"))
    assert doc["title"] == ZH and doc["message"] == ZH
    bad = asyncio.run(routing.send(OutgoingMessage(2, "k:bad", "apprise", "nosuchscheme://x", "lead", "s", "b")))
    assert bad.outcome == "failed"
    unknown = asyncio.run(routing.send(OutgoingMessage(3, "k:x", "pager", "x", "lead", "s", "b")))
    assert unknown.outcome == "failed" and "no sender for channel 'pager'" in unknown.error


def test_a_sender_that_raises_is_recorded_unknown_not_lost(sessions, clock):
    [id_] = add(sessions, clock.now(), ["capture://x"], channel="capture")

    class Broken:
        async def send(self, msg):
            raise RuntimeError("bug")
    report = asyncio.run(deliver_once(sessions, Broken(), clock, worker="w", rng=random.Random(1)))
    assert report.unknown == 1
    r = row(sessions, id_)
    assert r.status == "unknown" and "RuntimeError: bug" in r.last_error


# --- policy and parsing (no database) --------------------------------------------------------------

def test_backoff_doubles_with_equal_jitter_and_caps_at_four_hours():
    policy, rng = RetryPolicy(), random.Random(3)
    for attempt, step in [(1, 60), (2, 120), (3, 240), (8, 7680), (9, 14400), (20, 14400), (500, 14400)]:
        for _ in range(50):
            assert step / 2 <= policy.delay(attempt, rng).total_seconds() <= step
    assert policy.delay(1, rng, retry_after=600).total_seconds() == 600
    assert policy.delay(8, rng, retry_after=10 ** 9).total_seconds() == 86400  # a day at most


def test_default_schedule_spans_a_day_and_a_shorter_one_is_refused():
    policy = RetryPolicy()
    assert policy.max_attempts == 20
    # the waits between attempt 1 and attempt 20, every jitter at its shortest: 24.1 h
    assert policy.guaranteed_span() == timedelta(seconds=sum(min(60 * 2 ** (n - 1), 14400) / 2 for n in range(1, 20)))
    assert policy.guaranteed_span() >= timedelta(hours=24)
    with pytest.raises(ValueError, match="spans at least"):
        RetryPolicy(max_attempts=8)
    with pytest.raises(ValueError, match="cap"):
        RetryPolicy(base=timedelta(hours=2), cap=timedelta(hours=1))
    assert RetryPolicy(cap=timedelta(hours=8), max_attempts=16).guaranteed_span() >= timedelta(hours=24)


def test_parse_retry_after():
    ref = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after("Tue, 10 Mar 2026 02:05:00 GMT", reference=ref) == 300
    assert parse_retry_after("Tue, 10 Mar 2026 01:00:00 GMT", reference=ref) == 0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_send_result_rejects_unknown_outcomes():
    with pytest.raises(ValueError):
        SendResult("ok")
