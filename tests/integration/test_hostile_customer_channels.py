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
