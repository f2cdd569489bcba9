"""K17: delivery outcomes are a contract. Each row of the outcome table in ``integrations/senders/``'s
docstring, against a real TCP receiver on 127.0.0.1 that misbehaves at one phase of the exchange
(connect, the request, the answer's head, its body, the close), through the client the deliver flow uses.

The rule: nothing sent -> ``retry``; sent but no answer's head -> ``unknown`` (the receiver may have it: resent
with the same key); a head arrived -> its status decides (2xx ``delivered``, 429/5xx ``retry``, other
``failed``), whatever happens to the body afterwards.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable

import pytest

from integrations.outbound import OutgoingMessage
from integrations.senders import WebhookSender, make_webhook_client

DEADLINE_S = 1.0


def _read_request(conn: socket.socket) -> bytes:
    """Read one HTTP request (head and a Content-Length body) from ``conn``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return data


def _answer(raw: bytes, then: str = "close") -> Callable[[socket.socket], None]:
    def act(conn: socket.socket) -> None:
        _read_request(conn)
        conn.sendall(raw)
        if then == "stall":
            time.sleep(DEADLINE_S * 2)
    return act


def _stall(conn: socket.socket) -> None:
    _read_request(conn)
    time.sleep(DEADLINE_S * 2)


def _close_after_request(conn: socket.socket) -> None:
    _read_request(conn)


#: phase -> (receiver behaviour, expected outcome, expected status code, a fragment of the error)
CASES: dict[str, tuple[Callable[[socket.socket], None] | None, str, int | None, str]] = {
    "connect: refused": (None, "retry", None, "nothing was sent"),
    "request: read, then closed without an answer": (_close_after_request, "unknown", None, "may have it"),
    "request: read, then no answer until the deadline": (_stall, "unknown", None, "deadline"),
    "head: half a status line, then closed": (_answer(b"HTTP/1.1 20"), "unknown", None, "may have it"),
    "head: 200, body cut short": (_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"),
                                  "delivered", 200, ""),
    "head: 503, body cut short": (_answer(b"HTTP/1.1 503 Busy\r\nContent-Length: 100\r\n\r\nbus"),
                                  "retry", 503, "HTTP 503"),
    "head: 429 with Retry-After, body never ends": (
        _answer(b"HTTP/1.1 429 Slow\r\nRetry-After: 120\r\nContent-Length: 100\r\n\r\n", then="stall"),
        "retry", 429, "HTTP 429"),
    "head: 404, body never ends": (_answer(b"HTTP/1.1 404 No\r\nContent-Length: 50\r\n\r\n", then="stall"),
                                   "failed", 404, "HTTP 404"),
    "head: 301 to elsewhere": (_answer(b"HTTP/1.1 301 Moved\r\nLocation: http://elsewhere.invalid/\r\n"
                                       b"Content-Length: 0\r\n\r\n"), "failed", 301, "not followed"),
    "close: 200, then the connection closes": (
        _answer(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"), "delivered", 200, ""),
}


class _Receiver:
    """A TCP server on 127.0.0.1 that runs ``behaviour`` on each connection (in its own thread)."""

    def __init__(self, behaviour: Callable[[socket.socket], None]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.behaviour = behaviour
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    self.behaviour(conn)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


def _send(url: str):
    async def go():
        async with make_webhook_client(DEADLINE_S) as client:
            sender = WebhookSender(client, b"secret", DEADLINE_S)
            return await sender.send(OutgoingMessage(id=1, idempotency_key="k17", channel="webhook", target=url,
                                                     recipient="ops", subject="s", body="b"))
    return asyncio.run(go())


@pytest.mark.parametrize("phase", list(CASES))
def test_each_phase_of_a_misbehaving_receiver_gets_the_outcome_the_contract_states(phase):
    behaviour, outcome, status, fragment = CASES[phase]
    receiver = _Receiver(behaviour) if behaviour is not None else None
    port = receiver.port if receiver is not None else _free_port()
    try:
        result = _send(f"http://127.0.0.1:{port}/hook")
    finally:
        if receiver is not None:
            receiver.close()
    assert (result.outcome, result.status_code) == (outcome, status), result
    assert fragment in (result.error or ""), result
    if phase.startswith("head: 429"):
        assert result.retry_after is not None
