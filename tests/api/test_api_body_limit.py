"""Request bodies are bounded: 413 in the API's error shape, for a declared and for a streamed body."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from closeloop.api.app import create_app
from closeloop.bootstrap import App
from closeloop.settings import Settings
from models.db import make_sessions
from models.tables import Complaint

from .conftest import make_tokens


def _client(engine, config, clock, limit):
    app = App(Settings(database_url=engine.url.render_as_string(hide_password=False), api_max_body_bytes=limit),
              engine, make_sessions(engine), clock, config)
    return app, TestClient(create_app(app))


def _complaint(text: str) -> dict:
    return {"external_ref": "BIG-1", "received_at": "2026-03-02T00:00:00Z", "category": "billing", "text": text}


def test_a_body_over_the_limit_is_413_and_nothing_is_written(engine, config, clock):
    app, client = _client(engine, config, clock, 4096)
    with client:
        h = {"Authorization": f"Bearer {make_tokens(app)['manager']}"}
        res = client.post("/api/v1/complaints", headers=h, json=_complaint("x" * 5000))
        assert res.status_code == 413
        assert res.json()["error"]["code"] == "payload_too_large" and res.json()["error"]["field"] == "body"
        # streamed without a Content-Length: counted as it arrives
        body = json.dumps(_complaint("y" * 5000)).encode()
        res = client.post("/api/v1/complaints", headers={**h, "Content-Type": "application/json"},
                          content=iter([body[:2000], body[2000:]]))
        assert res.status_code == 413
        with app.sessions() as s:
            assert s.scalar(select(func.count()).select_from(Complaint)) == 0
        # under the limit the same request goes through
        res = client.post("/api/v1/complaints", headers=h, json=_complaint("z" * 1000))
        assert res.status_code == 201, res.text
        assert client.get("/api/v1/overview", headers=h).status_code == 200  # bodiless requests unaffected


def test_the_mail_webhook_takes_a_message_with_an_attachment_at_the_cap_and_names_its_own_limit(
        engine, config, clock, tmp_path):
    """``POST /inbound/email`` was held to the general limit (1 MiB), refusing attachments the cap allows."""
    from email.message import EmailMessage

    cap = 30_000
    app = App(Settings(database_url=engine.url.render_as_string(hide_password=False), api_max_body_bytes=4096,
                       attachment_max_bytes=cap, attachment_dir=str(tmp_path / "att")),
              engine, make_sessions(engine), clock, config)
    m = EmailMessage()
    m["From"], m["Subject"], m["Message-ID"] = "big@example.com", "scan attached", "<big-1@example.com>"
    m.set_content("please see the scan")
    m.add_attachment(bytes(range(256)) * (cap // 256), maintype="application", subtype="pdf", filename="s.pdf")
    raw = bytes(m)
    limit = 40_000 + 527 * 2 + 4096  # the cap base64-encoded, a CRLF per 76 characters, the general limit
    assert 4096 < len(raw) <= limit
    with TestClient(create_app(app)) as client:
        h = {"Authorization": f"Bearer {make_tokens(app)['manager']}", "Content-Type": "message/rfc822"}
        res = client.post("/api/v1/inbound/email", headers=h, content=raw)
        assert res.status_code == 201, res.text
        assert res.json()["outcome"] == "complaint"
        res = client.post("/api/v1/inbound/email", headers=h, content=raw + b"x" * (limit - len(raw) + 1))
        assert res.status_code == 413 and f"limit of {limit} bytes" in res.json()["error"]["message"]
        res = client.post("/api/v1/complaints", headers={**h, "Content-Type": "application/json"},
                          content=json.dumps(_complaint("x" * 5000)).encode())
        assert res.status_code == 413 and "limit of 4096 bytes" in res.json()["error"]["message"]
