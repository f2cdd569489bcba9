"""``CLOSELOOP_WEBHOOK_SECRET`` in the Standard Webhooks form ``whsec_<base64>`` (the ``webhook-signature`` key
is the decoded bytes, as the official libraries read the same string), a raw secret keyed as before, a
malformed ``whsec_`` refused at startup, and ``closeloop webhooks secret``.

The signatures are checked against HMACs computed here from the spec's formula, and against the test vector
published with the reference implementation (standard-webhooks/standard-webhooks,
libraries/python/tests/test_webhooks.py, ``test_sign_function``: the spec itself gives none).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import sessionmaker
from typer.testing import CliRunner

from closeloop.cli import app as cli_app
from closeloop.settings import Settings
from integrations.senders import WebhookRejected, sign_v1, verify_webhook
from integrations.webhook_keys import WebhookKeys, WebhookSecretError, webhook_keys

from . import test_delivery
from .receiver import Reply
from .test_delivery import add, path

receiver = test_delivery.receiver  # the delivery tests' local HTTP receiver, shared
runner = CliRunner()

KEY_B64 = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the reference implementation's test secret (24 bytes)


def test_a_whsec_secret_signs_the_reference_implementations_test_vector():
    keys = webhook_keys("whsec_" + KEY_B64)
    assert keys.v1 == base64.b64decode(KEY_B64) and len(keys.v1) == 24
    assert sign_v1(keys.v1, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}') \
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert keys.legacy == b"whsec_" + KEY_B64.encode()  # the deprecated header: the text as written
    # padding is optional (the libraries accept both); a raw secret is its UTF-8 bytes for both headers
    unpadded = base64.b64encode(bytes(range(32))).decode().rstrip("=")
    assert webhook_keys("whsec_" + unpadded).v1 == bytes(range(32))
    assert webhook_keys("s3cret-é") == WebhookKeys(v1="s3cret-é".encode(), legacy="s3cret-é".encode())


def _deliver_one(tmp_path, monkeypatch, url: str, secret: str) -> dict:
    from flows.deliver import deliver_outbox
    from models import migrate
    from models.db import make_engine

    db = f"sqlite:///{tmp_path / 'flow.db'}"
    eng = make_engine(db)
    migrate.upgrade(eng)
    add(sessionmaker(eng), datetime.now(UTC) - timedelta(seconds=1), [url], keys=["escalation:77:1"])
    eng.dispose()
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", db)
    monkeypatch.setenv("CLOSELOOP_CAPTURE_DIR", str(tmp_path / "cap"))
    monkeypatch.setenv("CLOSELOOP_WEBHOOK_SECRET", secret)
    return deliver_outbox.fn(max_batches=1)


@pytest.mark.parametrize(("secret", "v1_key"), [
    ("whsec_" + KEY_B64, base64.b64decode(KEY_B64)),
    ("whsec_" + base64.b64encode(b"k" * 40).decode(), b"k" * 40),
    ("plain raw secret", b"plain raw secret"),  # as before: existing receivers keep verifying
], ids=["whsec 24 bytes", "whsec 40 bytes", "raw"])
def test_the_deliver_flow_signs_with_the_key_a_standard_webhooks_receiver_derives(tmp_path, monkeypatch, receiver,
                                                                                  secret, v1_key):
    p = path()
    url = receiver.script(p, Reply(204, body=b""))
    assert _deliver_one(tmp_path, monkeypatch, url, secret)["delivered"] == 1
    [hit] = receiver.hits(p)
    h = hit.headers
    # what a receiver computes from the spec, on the string it was given (whsec_: strip, base64-decode)
    given = secret.removeprefix("whsec_")
    key = base64.b64decode(given + "=" * (-len(given) % 4)) if secret.startswith("whsec_") else secret.encode()
    assert key == v1_key
    mac = hmac.new(key, f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + hit.body, hashlib.sha256)
    assert h["webhook-id"] == "escalation:77:1"
    assert h["webhook-signature"] == "v1," + base64.b64encode(mac.digest()).decode()
    # the deprecated body-only header: keyed by the secret's text, whatever its form (unchanged for raw ones)
    legacy = hmac.new(secret.encode(), hit.body, hashlib.sha256).hexdigest()
    assert h["x-closeloop-signature"] == "sha256=" + legacy


BAD = {
    "not base64": "whsec_not base64!",
    "url-safe alphabet": "whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(),
    "impossible length": "whsec_" + KEY_B64 + "A",
    "empty": "whsec_",
    "too short": "whsec_" + base64.b64encode(b"x" * 16).decode(),
    "too long": "whsec_" + base64.b64encode(b"x" * 65).decode(),
}


@pytest.mark.parametrize("secret", BAD.values(), ids=BAD.keys())
def test_a_malformed_whsec_secret_is_refused_at_startup_naming_the_variable(tmp_path, monkeypatch, secret):
    with pytest.raises(ValidationError) as exc:
        Settings(webhook_secret=secret)
    hidden = secret == "whsec_" or secret not in str(exc.value)  # the bare prefix is named in the message
    assert "CLOSELOOP_WEBHOOK_SECRET" in str(exc.value) and hidden
    # the command line: one line naming the variable (never the value), exit 2, before any database work
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'never.db'}")
    monkeypatch.setenv("CLOSELOOP_WEBHOOK_SECRET", secret)
    res = runner.invoke(cli_app, ["outbox"])
    assert res.exit_code == 2
    assert "CLOSELOOP_WEBHOOK_SECRET: " in res.stderr and "whsec_" in res.stderr
    assert (secret == "whsec_" or secret not in res.stderr) and not (tmp_path / "never.db").exists()


def test_webhooks_secret_prints_a_fresh_spec_form_secret():
    first, second = (runner.invoke(cli_app, ["webhooks", "secret"]) for _ in range(2))
    assert first.exit_code == second.exit_code == 0
    printed = [r.stdout.strip() for r in (first, second)]
    assert printed[0] != printed[1] and all(s.startswith("whsec_") for s in printed)
    assert [len(base64.b64decode(s.removeprefix("whsec_"), validate=True)) for s in printed] == [32, 32]
    assert all(len(webhook_keys(s).v1) == 32 for s in printed)  # accepted by the setting
    short = runner.invoke(cli_app, ["webhooks", "secret", "--bytes", "24"])
    assert len(base64.b64decode(short.stdout.strip().removeprefix("whsec_"))) == 24
    refused = runner.invoke(cli_app, ["webhooks", "secret", "--bytes", "16"])
    assert refused.exit_code == 2 and "--bytes" in refused.stderr and refused.stdout == ""


def test_verify_webhook_takes_the_secret_as_the_sender_holds_it():
    """``verify_webhook`` took only the HMAC key as bytes: a receiver handing it the ``whsec_`` secret it was
    given (as Standard Webhooks libraries take it) got a TypeError, and its bytes (``b"whsec_..."``) a
    rejection. A ``str`` is now read as the sender reads ``CLOSELOOP_WEBHOOK_SECRET``; a malformed one is refused
    naming ``secret``; ``bytes`` stay the key itself."""
    msg_id, stamp, body = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(stamp),
               "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}  # the reference vector
    now = datetime.fromtimestamp(stamp + 10, UTC)
    assert verify_webhook("whsec_" + KEY_B64, headers, body, now=now) == msg_id
    assert verify_webhook(base64.b64decode(KEY_B64), headers, body, now=now) == msg_id  # the key, as before
    with pytest.raises(WebhookRejected):  # its text is not its key
        verify_webhook(("whsec_" + KEY_B64).encode(), headers, body, now=now)
    raw = {**headers, "webhook-signature": sign_v1(b"plain raw secret", msg_id, stamp, body)}
    assert verify_webhook("plain raw secret", raw, body, now=now) == msg_id  # a raw secret: its UTF-8 bytes
    for bad in BAD.values():
        with pytest.raises(WebhookSecretError, match=r"^secret: ") as exc:
            verify_webhook(bad, headers, body, now=now)
        assert bad == "whsec_" or bad not in str(exc.value)
