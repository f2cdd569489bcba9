"""A real, scriptable HTTP/1.1 receiver on 127.0.0.1 for delivery tests.

It runs an asyncio server in a background thread (so synchronous tests can call
``asyncio.run(...)`` freely), keeps connections alive, and records every request.
It dedupes like a well-behaved webhook consumer: a request it *processes* (a
2xx answer, or a scripted "processed, then no answer") is stored once per
``Idempotency-Key`` in :attr:`Receiver.visible`; a repeat is answered but not
shown again.

Behaviour is scripted per path: each request on the path takes the next action,
the last one repeats; an unscripted path answers 200.

- ``Reply(status, headers, body, delay)``: answer after ``delay`` seconds (slow receiver).
- ``Hang()``: read the whole request, process it, never answer (a read timeout
  on the client after the body was sent).
- ``Trickle(interval, lines)``: process it, then send the status line and one
  header line every ``interval`` seconds: each read is quick, only a total
  deadline stops the client.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0

    @property
    def processes(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class Hang:
    processes: bool = True


@dataclass(frozen=True)
class Trickle:
    interval: float = 0.05
    lines: int = 40
    processes: bool = True


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    action: object
    at: float = field(default_factory=time.time)  # wall time the request was read (latency benchmarks)

    @property
    def key(self) -> str | None:
        return self.headers.get("idempotency-key")


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Hit] = []
        self.visible: dict[str, bytes] = {}
        self._scripts: dict[str, list] = {}
        self._busy: dict[str, int] = {}
        self.peak: dict[str, int] = {}  # most requests of one path in progress at once
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="test-receiver", daemon=True)
        self._handlers: set[asyncio.Task] = set()
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    # --- control (test thread) ---
    def start(self) -> Receiver:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, "127.0.0.1", 0, backlog=512), self._loop).result()
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def shutdown():
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *actions) -> str:
        with self._lock:
            self._scripts[path] = list(actions)
        return self.url(path)

    def hits(self, path: str) -> list[Hit]:
        with self._lock:
            return [h for h in self.requests if h.path == path]

    def shown(self, path: str) -> int:
        """Messages a deduping consumer shows for ``path`` (distinct keys it processed)."""
        with self._lock:
            keys = {h.key for h in self.requests if h.path == path and h.action.processes}
        return len(keys)

    # --- server (receiver thread) ---
    def _next(self, path: str):
        with self._lock:
            script = self._scripts.get(path)
            if not script:
                return Reply()
            return script.pop(0) if len(script) > 1 else script[0]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._handlers.add(task)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                _method, target, _version = lines[0].split(" ", 2)
                headers: dict[str, str] = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                size = int(headers.get("content-length") or 0)
                body = await reader.readexactly(size) if size else b""
                action = self._next(target)
                hit = Hit(target, headers, body, action)
                with self._lock:
                    self.requests.append(hit)
                    if action.processes and hit.key is not None:
                        self.visible.setdefault(hit.key, body)
                    self._busy[target] = self._busy.get(target, 0) + 1
                    self.peak[target] = max(self.peak.get(target, 0), self._busy[target])
                try:
                    if not await self._act(action, reader, writer):
                        return
                finally:
                    with self._lock:
                        self._busy[target] -= 1
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _act(self, action, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection is done."""
        if isinstance(action, Hang):
            await reader.read()  # until the client gives up and closes
            return False
        if isinstance(action, Trickle):
            writer.write(b"HTTP/1.1 200 OK\r\n")
            for i in range(action.lines):
                await writer.drain()
                await asyncio.sleep(action.interval)
                writer.write(f"X-Pad-{i}: .\r\n".encode())
            writer.write(b"Content-Length: 0\r\n\r\n")
            await writer.drain()
            return True
        if action.delay:
            await asyncio.sleep(action.delay)
        extra = "".join(f"{k}: {v}\r\n" for k, v in action.headers.items())
        if not any(k.lower() == "date" for k in action.headers):
            extra += f"Date: {formatdate(usegmt=True)}\r\n"
        reason = HTTPStatus(action.status).phrase if action.status in HTTPStatus._value2member_map_ else "X"
        writer.write(f"HTTP/1.1 {action.status} {reason}\r\nContent-Length: {len(action.body)}\r\n"
                     f"Content-Type: text/plain; charset=utf-8\r\n{extra}\r\n".encode("latin-1") + action.body)
        await writer.drain()
        return True
