"""Issue 13, "channels are safe": a customer named ``<script>alert(1)</script>`` whose complaint text holds
HTML and Markdown reaches the e-mail (text part literal, HTML part escaped with its line breaks) and the
chat (Apprise, sent as Markdown: escaped, line breaks kept) as text, never as markup (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import markdown
from sqlalchemy import select

from closeloop.config import load_config, parse_config
from closeloop.domain.customer import ContactPoint, CustomerProfile
from closeloop.services.customers.replies import send_reply
from models.tables import Outbox

from .helpers import facts, intake

T0 = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
NAME = "<script>alert(1)</script>"
TEXT = "My bill shows <img src=x onerror=alert(2)> and **twice** the amount\nsee [here](javascript:alert(3))"


def _config():
    text = load_config().text.replace('default_language = "en"\n',
                                      'default_language = "en"\nchat_notify = "json://127.0.0.1:9/{handle}"\n', 1)
    assert "chat_notify" in text
    return parse_config(text, "test")


def test_a_hostile_name_and_text_stay_text_in_e_mail_and_chat(sessions):
    cfg = _config()
    mail_cid, chat_cid = intake(sessions, cfg, T0, [
        facts("H-1", T0, customer_ref="h-mail", text=TEXT, customer=CustomerProfile(
            NAME, "en", None, (ContactPoint("email", "h@example.org", consent=True),))),
        facts("H-2", T0, customer_ref="h-chat", text=TEXT, customer=CustomerProfile(
            NAME, "zh", None, (ContactPoint("chat", "hchat", consent=True),)))])
    for cid in (mail_cid, chat_cid):  # the agent quotes the customer's text back in a reply
        send_reply(sessions, cfg, cid, f"You wrote:\n{TEXT}\n\nWe are on it.", actor="agent", at=T0)
    with sessions() as s:
        rows = s.scalars(select(Outbox).where(Outbox.idempotency_key.like("customer:%")).order_by(Outbox.id)).all()
    mails = [r for r in rows if r.channel == "email"]
    chats = [r for r in rows if r.channel == "apprise"]
    assert len(mails) == len(chats) == 2 and {r.target for r in chats} == {"json://127.0.0.1:9/hchat"}
    for r in mails:
        assert NAME in r.body or "alert(2)" in r.body  # the text part is plain text, literal
        html = r.payload["html"]
        for raw in ("<script>", "<img", "javascript:alert(3))\">"):
            assert raw not in html
        assert "&lt;script&gt;" in html or "&lt;img" in html
    reply = next(r for r in mails if "You wrote" in r.body)
    assert "<br>" in reply.payload["html"]  # line breaks kept in the HTML part
    for r in chats:
        rendered = markdown.markdown(r.body)  # what a Markdown-to-HTML chat service shows
        assert "<script>" not in rendered and "<img" not in rendered and "<strong>" not in rendered
        assert "<a " not in rendered
    reply_chat = markdown.markdown(next(r for r in chats if "javascript" in r.body).body)
    assert "&lt;img src=x onerror=alert(2)&gt;" in reply_chat and "**twice**" in reply_chat
    assert "<br />" in reply_chat  # the line breaks of the message are kept
    ack_chat = markdown.markdown(next(r for r in chats if "acknowledged" in r.idempotency_key).body)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in ack_chat


def test_a_hostile_name_and_text_stay_text_in_a_webhook_body(sessions):
    """The same customer messages sent as signed webhooks to a real receiver (the real delivery path): the
    raw bytes hold no ``<``/``>``/``&`` (JSON escapes, as Go's encoding/json and Django's json_script), the
    decoded JSON gives back exactly what was written, and the signature covers those bytes."""
    import asyncio
    import json
    import random

    from sqlalchemy import update

    from closeloop.clock import FixedClock
    from closeloop.services.engine.delivery import deliver_once
    from integrations.senders import RoutingSender, WebhookSender, make_webhook_client, verify_signature

    from .receiver import Receiver

    cfg = _config()
    (cid,) = intake(sessions, cfg, T0, [facts("H-3", T0, customer_ref="h-hook", text=TEXT, customer=CustomerProfile(
        NAME, "en", None, (ContactPoint("email", "hook@example.org", consent=True),)))])
    send_reply(sessions, cfg, cid, f"You wrote:\n{TEXT}", actor="agent", at=T0)
    rec = Receiver().start()
    try:
        with sessions.begin() as s:  # the customer's messages leave through a webhook instead of SMTP
            s.execute(update(Outbox).where(Outbox.idempotency_key.like("customer:%"))
                      .values(channel="webhook", target=rec.url("/hook")))

        async def go():
            async with make_webhook_client(30.0) as c:
                sender = RoutingSender({"webhook": WebhookSender(c, b"s3cret", 30.0)})
                return await deliver_once(sessions, sender, FixedClock(T0), worker="w", rng=random.Random(1))
        assert asyncio.run(go()).delivered == 2
        hits = rec.hits("/hook")
    finally:
        rec.stop()
    assert len(hits) == 2
    texts = []
    for hit in hits:
        assert verify_signature(b"s3cret", hit.body, hit.headers["x-closeloop-signature"])
        assert not {b"<", b">", b"&"} & {bytes([c]) for c in hit.body}
        doc = json.loads(hit.body)
        texts.append(doc["body"] + json.dumps(doc["payload"], ensure_ascii=False))
    assert any(NAME in t for t in texts)  # the acknowledgement greets the customer by name, exactly
    assert any("<img src=x onerror=alert(2)>" in t for t in texts)  # the quoted text, exactly as written
