"""Issue 13, "a digest keeps its line breaks in e-mail": a department whose notify target is an e-mail
address (an Apprise ``mailto://`` URL) gets its digest through a real SMTP server (aiosmtpd) with one line
per item in the text part and one list item per item in the HTML part (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select

from closeloop.clock import FixedClock
from closeloop.config import parse_config
from closeloop.services.engine.delivery import deliver_once
from closeloop.services.engine.sweep import sweep
from integrations.senders import AppriseSender, RoutingSender
from models.tables import Outbox

from .helpers import facts, intake
from .smtp_server import smtp_server  # noqa: F401 - fixture
from .test_sweep import SH, engine_config

LEAD = "service-queue@example.org"


def test_a_digest_mailed_through_apprise_keeps_one_line_per_item(sessions, smtp_server):  # noqa: F811
    url, inbox = smtp_server
    port = urlsplit(url).port
    target = f"mailto://127.0.0.1:{port}?from=closeloop@example.org&to={LEAD}&mode=insecure"
    service = '[departments.service]\ndisplay_name = "Service"'
    config = parse_config(engine_config().text.replace(service, f'{service}\nnotify = "{target}"'), "digest-mail")
    created = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
    intake(sessions, config, created, [facts("DM-1", created), facts("DM-2", created)])
    at = datetime(2026, 3, 2, 13, 0, tzinfo=SH)  # the 50 % reminders and the first acknowledgement pages
    sweep(sessions, config, at)
    with sessions() as s:
        (row,) = s.scalars(select(Outbox).where(Outbox.recipient == "service queue")).all()
    assert row.channel == "apprise" and row.target == target
    items = [line for line in row.body.splitlines() if line.startswith("- ")]
    assert len(items) >= 4  # two complaints: a reminder and a page each
    sender = RoutingSender({"apprise": AppriseSender(10)})
    assert asyncio.run(deliver_once(sessions, sender, FixedClock(at), worker="w")).delivered >= 1
    (mail,) = [m for m in inbox.to(LEAD) if str(m["Subject"]) == row.subject]  # the lead gets its own digest
    html = mail.get_body(("html",)).get_content()
    text = mail.get_body(("plain",)).get_content()
    assert html.count("<li>") == len(items)
    assert [line for line in text.splitlines() if line.startswith("- ")] == [
        line.replace("\\", "") for line in items]  # each item on its own line, the Markdown escapes undone
