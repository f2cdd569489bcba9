"""Standard Webhooks signatures on delivered webhooks (https://www.standardwebhooks.com), against the
real local receiver of the delivery tests: verified here independently of the sender's code (the HMAC
over the spec's ``"{webhook-id}.{webhook-timestamp}.{body}"`` string, computed in the test), and with the
receiver-side :func:`verify_webhook`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta

import pytest

from integrations.senders import SIGNATURE_HEADER, WebhookRejected, verify_signature, verify_webhook

from . import test_delivery
from .receiver import Reply
from .test_delivery import SECRET, T0, add, deliver, path, row

receiver, clock = test_delivery.receiver, test_delivery.clock  # the delivery tests' fixtures, shared


def spec_signature(secret: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    """The spec's rule, written out independently: base64 of HMAC-SHA256 over ``id.timestamp.body``."""
    mac = hmac.new(secret, msg_id.encode() + b"." + timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def test_delivered_webhook_carries_a_timestamped_standard_signature(sessions, clock, receiver):
    p = path()
    url = receiver.script(p, Reply(204, body=b""))
    add(sessions, clock.now(), [url], keys=["escalation:2048:1"])
    clock.advance(timedelta(seconds=42, microseconds=900_000))  # sent later than queued; whole seconds signed
    sent_at = clock.now()
    assert deliver(sessions, clock).delivered == 1
    [hit] = receiver.hits(p)
    h = hit.headers
    assert h["webhook-id"] == "escalation:2048:1" == h["idempotency-key"]
    assert h["webhook-timestamp"] == str(int(sent_at.timestamp())) == "1773108042"
    assert h["webhook-signature"].split() == [spec_signature(SECRET, h["webhook-id"], h["webhook-timestamp"],
                                                             hit.body)]
    assert verify_webhook(SECRET, h, hit.body, now=sent_at + timedelta(seconds=3)) == "escalation:2048:1"
    # the deprecated body-only header is unchanged for existing receivers
    assert verify_signature(SECRET, hit.body, h[SIGNATURE_HEADER.lower()])


def test_a_changed_body_timestamp_id_or_secret_fails_and_a_stale_replay_is_refused(sessions, clock, receiver):
    p = path()
    url = receiver.script(p, Reply(200))
    add(sessions, clock.now(), [url])
    assert deliver(sessions, clock).delivered == 1
    [hit] = receiver.hits(p)
    h, now = hit.headers, clock.now()
    assert verify_webhook(SECRET, h, hit.body, now=now)
    later = str(int(h["webhook-timestamp"]) + 1)  # a replayer moving the timestamp forward
    cases = {
        "body": (h, hit.body.replace(b"Task 12", b"Task 13"), SECRET, now),
        "timestamp": ({**h, "webhook-timestamp": later}, hit.body, SECRET, now),
        "id": ({**h, "webhook-id": h["webhook-id"] + "x"}, hit.body, SECRET, now),
        "secret": (h, hit.body, b"other", now),
        "missing": ({k: v for k, v in h.items() if k != "webhook-signature"}, hit.body, SECRET, now),
        "stale": (h, hit.body, SECRET, now + timedelta(minutes=5, seconds=1)),  # replayed 5 min later
        "future": (h, hit.body, SECRET, now - timedelta(minutes=5, seconds=1)),
    }
    for what, (headers, body, secret, at) in cases.items():
        with pytest.raises(WebhookRejected):
            verify_webhook(secret, headers, body, now=at)
        if what in ("body", "timestamp"):  # the independent computation disagrees too
            assert spec_signature(SECRET, headers["webhook-id"], headers["webhook-timestamp"], body) \
                != h["webhook-signature"]
    assert verify_webhook(SECRET, h, hit.body, now=now + timedelta(minutes=5))  # the edge is inside
    # several space-separated entries (a secret being rotated): one match is enough
    rotated = {**h, "webhook-signature": "v1,bm90IGl0 " + h["webhook-signature"]}
    assert verify_webhook(SECRET, rotated, hit.body, now=now)


def test_retries_of_one_row_carry_the_same_webhook_id_and_a_fresh_signed_timestamp(sessions, clock, receiver):
    p = path()
    url = receiver.script(p, Reply(503, body=b"busy"), Reply(200))
    [id_] = add(sessions, clock.now(), [url])
    assert deliver(sessions, clock).retried == 1
    clock.set(row(sessions, id_).next_attempt_at)
    assert deliver(sessions, clock).delivered == 1
    first, second = receiver.hits(p)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == row(sessions, id_).idempotency_key
    assert int(second.headers["webhook-timestamp"]) - int(first.headers["webhook-timestamp"]) >= 30
    for hit, at in ((first, T0), (second, clock.now())):
        assert verify_webhook(SECRET, hit.headers, hit.body, now=at)
    # the first attempt, replayed now, is refused: its signed timestamp is stale
    with pytest.raises(WebhookRejected, match="tolerance"):
        verify_webhook(SECRET, first.headers, first.body, now=clock.now() + timedelta(minutes=5))
