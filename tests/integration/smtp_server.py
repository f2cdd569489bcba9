"""A real SMTP server on 127.0.0.1 for the tests (``aiosmtpd``), keeping every message it accepted.

Outside CI a missing ``aiosmtpd`` skips the test with the reason; in CI (``CI=true``) it fails.
"""

from __future__ import annotations

import os
import socket
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """What the server accepted: one entry per DATA transaction (envelope recipients, parsed message)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        msg = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            return [m for rcpt, m in self.messages if address in rcpt]


@pytest.fixture
def smtp_server():
    """``(url, inbox)`` of a running SMTP server on a free loopback port; stopped after the test."""
    try:
        from aiosmtpd.controller import Controller
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("aiosmtpd is not installed (pip install -e '.[test]')")
        pytest.skip("aiosmtpd is not installed: no real SMTP server to test against")
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", inbox
    finally:
        controller.stop()
