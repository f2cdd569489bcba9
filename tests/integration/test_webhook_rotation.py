"""Rotating ``CLOSELOOP_WEBHOOK_SECRET`` without a window of refused webhooks or broken customer links:
``CLOSELOOP_WEBHOOK_SECRET_PREVIOUS`` (secrets being rotated out) adds one ``webhook-signature`` entry per old
secret (Standard Webhooks: several space-separated signatures, any one matching), and verdict links mailed under
an old webhook secret keep verifying while it is listed there (when ``CLOSELOOP_LINK_SECRET`` is unset).

Every signature is checked against an HMAC computed here from the spec's formula, not by our signing code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from closeloop.services.customers.links import LinkRefused, Verdict, VerdictLinks
from closeloop.settings import Settings

from . import test_delivery
from .receiver import Reply
from .test_delivery import path
from .test_webhook_secrets import _deliver_one

receiver = test_delivery.receiver  # the delivery tests' local HTTP receiver, shared

NEW = "whsec_" + base64.b64encode(b"n" * 32).decode()
OLD_SPEC = "whsec_" + base64.b64encode(b"o" * 24).decode()
OLD_RAW = "an old raw secret"


def _v1(key: bytes, msg_id: str, stamp: str, body: bytes) -> str:
    mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def test_a_rotation_signs_with_the_new_secret_and_every_previous_one(tmp_path, monkeypatch, receiver):
    monkeypatch.setenv("CLOSELOOP_WEBHOOK_SECRET_PREVIOUS", f" {OLD_RAW} ; {OLD_SPEC};")
    p = path()
    url = receiver.script(p, Reply(204, body=b""))
    assert _deliver_one(tmp_path, monkeypatch, url, NEW)["delivered"] == 1
    [hit] = receiver.hits(p)
    h = hit.headers
    entries = h["webhook-signature"].split(" ")
    keys = [b"n" * 32, OLD_RAW.encode(), b"o" * 24]  # what each receiver derives from the string it holds
    assert entries == [_v1(k, h["webhook-id"], h["webhook-timestamp"], hit.body) for k in keys]
    # the deprecated header: the current secret only, as written
    assert h["x-closeloop-signature"] == "sha256=" + hmac.new(NEW.encode(), hit.body, hashlib.sha256).hexdigest()


def test_without_a_rotation_the_header_has_one_entry(tmp_path, monkeypatch, receiver):
    monkeypatch.delenv("CLOSELOOP_WEBHOOK_SECRET_PREVIOUS", raising=False)
    p = path()
    url = receiver.script(p, Reply(204, body=b""))
    assert _deliver_one(tmp_path, monkeypatch, url, NEW)["delivered"] == 1
    [hit] = receiver.hits(p)
    assert hit.headers["webhook-signature"] == _v1(b"n" * 32, hit.headers["webhook-id"],
                                                   hit.headers["webhook-timestamp"], hit.body)


def test_a_malformed_previous_secret_is_refused_naming_its_variable():
    with pytest.raises(ValidationError) as exc:
        Settings(webhook_secret=NEW, webhook_secret_previous=f"{OLD_RAW};whsec_not base64!")
    assert "CLOSELOOP_WEBHOOK_SECRET_PREVIOUS" in str(exc.value)
    assert "not base64!" not in str(exc.value)  # never echoed


NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _links(**settings) -> VerdictLinks:
    return VerdictLinks.from_settings(Settings(**settings), days=14)


def test_verdict_links_mailed_before_a_rotation_keep_working_while_the_old_secret_is_listed():
    before = _links(webhook_secret=OLD_RAW)
    link, _ = before.url(41, Verdict.SOLVED, NOW)
    expires, sig = int(link.split("e=")[1].split("&")[0]), link.split("s=")[1]
    rotating = _links(webhook_secret=NEW, webhook_secret_previous=OLD_RAW)
    assert rotating.check(41, "solved", expires, sig, NOW + timedelta(days=1)) is Verdict.SOLVED
    new_link, _ = rotating.url(41, Verdict.SOLVED, NOW)
    assert new_link.split("s=")[1] == hmac.new(NEW.encode(), f"41:solved:{expires}".encode(),
                                                hashlib.sha256).hexdigest()  # new links: the new secret only
    with pytest.raises(LinkRefused):  # the verdict is signed too: an old link cannot be turned round
        rotating.check(41, "not-solved", expires, sig, NOW)
    with pytest.raises(LinkRefused):  # rotation finished: the old secret is no longer accepted
        _links(webhook_secret=NEW).check(41, "solved", expires, sig, NOW)
    with pytest.raises(LinkRefused):  # a link secret of its own is not rotated with the webhook secret
        _links(webhook_secret=NEW, webhook_secret_previous=OLD_RAW, link_secret="links").check(
            41, "solved", expires, sig, NOW)


OLD_WITH_SEMICOLON = "old;raw;secret"  # a raw secret may hold ';': written '\;' in the previous list


def test_a_raw_secret_holding_a_semicolon_can_be_rotated_out(tmp_path, monkeypatch, receiver):
    monkeypatch.setenv("CLOSELOOP_WEBHOOK_SECRET_PREVIOUS", OLD_WITH_SEMICOLON.replace(";", "\\;") + f";{OLD_RAW}")
    p = path()
    url = receiver.script(p, Reply(204, body=b""))
    assert _deliver_one(tmp_path, monkeypatch, url, NEW)["delivered"] == 1
    [hit] = receiver.hits(p)
    h = hit.headers
    keys = [b"n" * 32, OLD_WITH_SEMICOLON.encode(), OLD_RAW.encode()]
    assert h["webhook-signature"].split(" ") == [_v1(k, h["webhook-id"], h["webhook-timestamp"], hit.body)
                                                 for k in keys]


def test_a_verdict_link_signed_under_a_raw_secret_holding_a_semicolon_verifies_during_the_rotation():
    link, _ = _links(webhook_secret=OLD_WITH_SEMICOLON).url(41, Verdict.SOLVED, NOW)
    expires, sig = int(link.split("e=")[1].split("&")[0]), link.split("s=")[1]
    rotating = _links(webhook_secret=NEW, webhook_secret_previous=OLD_WITH_SEMICOLON.replace(";", "\\;"))
    assert rotating.check(41, "solved", expires, sig, NOW) is Verdict.SOLVED
