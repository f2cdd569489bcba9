"""``Http1Transport``: a lean HTTP/1.1 transport for ``httpx.AsyncClient`` (the webhook client's).

httpx's API stays as it is (``client.build_request``, ``client.send``, ``httpx.Response``,
httpx's exceptions); only the layer under it changes. httpcore spends most of a small POST's time
in its anyio/h11 layers (a cancel scope per read and write, h11's event machinery, a pool rescan per
request); this transport writes the request in one ``transport.write`` on an ``asyncio.Protocol``
and parses the answer from the buffer: several times more requests per second on one core
(``bench/deliver.py``).

What it does and does not do:

- HTTP/1.1 with keep-alive, one pool of connections per origin (``max_connections`` each, idle ones
  kept ``keepalive_expiry`` seconds, newest first); ``http`` and ``https`` (one SSL context);
  no HTTP/2, no proxies, no Unix sockets.
- Response bodies: ``Content-Length``, ``chunked`` or read to the close; streamed to httpx like
  httpcore's (the status and headers are known before the body has arrived).
- Timeouts from the request's ``timeout`` extension: ``connect``, ``read`` (per wait for bytes),
  ``pool`` (waiting for a free connection); the caller's total deadline cancels at any point and
  the connection is then closed, never reused.
- The ``trace`` extension gets ``http11.send_request_headers.started`` just before the first byte
  of the request is written (what ``WebhookSender`` needs to tell "nothing sent" from "maybe received").

Errors, as httpcore raises them (``WebhookSender`` classifies them; see ``integrations.senders``):

==============================================  ===========================
refused, unreachable, TLS handshake failed      ``httpx.ConnectError``
connect took longer than ``connect``            ``httpx.ConnectTimeout``
no free connection within ``pool``              ``httpx.PoolTimeout``
the connection broke while writing              ``httpx.WriteError``
closed before the whole answer arrived          ``httpx.RemoteProtocolError``
no byte within ``read``                         ``httpx.ReadTimeout``
an answer that is not HTTP/1.x                  ``httpx.RemoteProtocolError``
CR or LF in a header                            ``httpx.LocalProtocolError``
==============================================  ===========================
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator

import httpx

MAX_HEAD_BYTES = 64 * 1024
_NO_BODY_STATUS = (204, 304)


class _Conn(asyncio.Protocol):
    """One connection: bytes received so far, and a future to wait for more (or for the close)."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future | None = None
        self._writable: asyncio.Future | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._wake()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        self._writable = self.loop.create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        self._writable = None

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def more(self, timeout: float | None) -> None:
        """Wait for more bytes (or the close); ``httpx.ReadTimeout`` after ``timeout`` seconds."""
        self._waiter = self.loop.create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._waiter
        except TimeoutError:
            raise httpx.ReadTimeout(f"no data from the server within {timeout:g} s") from None
        finally:
            self._waiter = None

    async def write(self, data: bytes) -> None:
        if self.closed or self.transport is None or self.transport.is_closing():
            raise httpx.WriteError("the connection is closed")
        self.transport.write(data)
        if self._writable is not None:
            await self._writable
            if self.closed:
                raise httpx.WriteError("the connection was closed while writing")

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Pool:
    __slots__ = ("idle", "count", "waiters")

    def __init__(self) -> None:
        self.idle: list[_Conn] = []
        self.count = 0
        self.waiters: deque[asyncio.Future] = deque()


class Http1Transport(httpx.AsyncBaseTransport):
    """See the module docstring. ``verify``: an ``ssl.SSLContext``, True (httpx's default context,
    built once) or False (no certificate check)."""

    def __init__(self, *, max_connections: int = 100, keepalive_expiry: float = 5.0,
                 verify: ssl.SSLContext | bool = True):
        if max_connections < 1:
            raise ValueError("Http1Transport needs at least one connection per origin")
        self._max = max_connections
        self._expiry = keepalive_expiry
        self._verify = verify
        self._ssl: ssl.SSLContext | None = verify if isinstance(verify, ssl.SSLContext) else None
        self._pools: dict[tuple[bytes, bytes, int], _Pool] = {}

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context(verify=self._verify)  # once: a context costs ~20 ms
        return self._ssl

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"Request URL has an unsupported protocol '{url.scheme}://'.")
        port = url.port or (443 if url.scheme == "https" else 80)
        key = (url.raw_scheme, url.raw_host, port)
        timeouts = request.extensions.get("timeout", {})
        head = _request_head(request)
        body = await _request_body(request)
        pool = self._pools.setdefault(key, _Pool())
        conn = await self._acquire(pool, key, timeouts)
        try:
            trace = request.extensions.get("trace")
            if trace is not None:
                await trace("http11.send_request_headers.started", {"request": request})
            await conn.write(head + body if len(body) < 65536 else head)
            if len(body) >= 65536:
                await conn.write(body)
            status, reason, headers, length, keep = await _read_head(conn, request.method, timeouts.get("read"))
        except BaseException:
            self._discard(pool, conn)
            raise
        stream = _Body(self, pool, conn, length, timeouts.get("read"), keep)
        return httpx.Response(status, headers=headers, stream=stream,
                              extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason})

    async def _acquire(self, pool: _Pool, key: tuple[bytes, bytes, int], timeouts: dict) -> _Conn:
        loop = asyncio.get_running_loop()
        while pool.idle:
            conn = pool.idle.pop()
            if not conn.closed and loop.time() - conn.idle_since < self._expiry:
                return conn
            self._discard(pool, conn, wake=False)
        if pool.count >= self._max:
            got = await self._wait_turn(pool, loop, timeouts.get("pool"))
            if got is not None:
                return got
        pool.count += 1
        try:
            return await _connect(loop, key, timeouts.get("connect"),
                                  self._ssl_context() if key[0] == b"https" else None)
        except BaseException:
            pool.count -= 1
            self._wake_one(pool, None)
            raise

    async def _wait_turn(self, pool: _Pool, loop, timeout: float | None) -> _Conn | None:
        """Wait for a connection handed back (returned) or closed (None: the caller may open one)."""
        fut: asyncio.Future = loop.create_future()
        pool.waiters.append(fut)
        try:
            async with asyncio.timeout(timeout):
                return await fut
        except TimeoutError:
            raise httpx.PoolTimeout(f"no free connection within {timeout:g} s") from None
        except BaseException:
            if fut.done() and not fut.cancelled() and fut.result() is not None:
                self.release(pool, fut.result())
            elif fut.done() and not fut.cancelled():
                self._wake_one(pool, None)  # our turn to open one passes on
            raise
        finally:
            if fut in pool.waiters:
                pool.waiters.remove(fut)

    def _wake_one(self, pool: _Pool, conn: _Conn | None) -> bool:
        while pool.waiters:
            fut = pool.waiters.popleft()
            if not fut.done():
                fut.set_result(conn)
                return True
        return False

    def release(self, pool: _Pool, conn: _Conn) -> None:
        """A connection whose answer was read whole: to a waiting request, else to the idle list."""
        if conn.closed:
            self._discard(pool, conn)
            return
        conn.idle_since = conn.loop.time()
        if not self._wake_one(pool, conn):
            pool.idle.append(conn)

    def _discard(self, pool: _Pool, conn: _Conn, *, wake: bool = True) -> None:
        conn.close()
        pool.count -= 1
        if wake:
            self._wake_one(pool, None)

    async def aclose(self) -> None:
        for pool in self._pools.values():
            for conn in pool.idle:
                conn.close()
            pool.count -= len(pool.idle)
            pool.idle.clear()


async def _connect(loop, key: tuple[bytes, bytes, int], timeout: float | None,
                   context: ssl.SSLContext | None) -> _Conn:
    host = key[1].decode("ascii")
    try:
        async with asyncio.timeout(timeout):
            _, conn = await loop.create_connection(lambda: _Conn(loop), host.strip("[]"), key[2], ssl=context,
                                                   server_hostname=host.strip("[]") if context else None)
    except TimeoutError:
        raise httpx.ConnectTimeout(f"connecting to {host}:{key[2]} took over {timeout:g} s") from None
    except (OSError, ssl.SSLError) as exc:
        raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
    return conn


def _request_head(request: httpx.Request) -> bytes:
    lines = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    for name, value in request.headers.raw:
        if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name or b":" in name:
            raise httpx.LocalProtocolError(f"illegal header {name!r}")
        lines += [name, b": ", value, b"\r\n"]
    lines.append(b"\r\n")
    return b"".join(lines)


async def _request_body(request: httpx.Request) -> bytes:
    try:
        body = request.content
    except httpx.RequestNotRead:
        body = await request.aread()
    if body and "content-length" not in request.headers:  # httpx announced chunked: one chunk, then the end
        return b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body)
    if not body and request.headers.get("transfer-encoding", "").lower() == "chunked":
        return b"0\r\n\r\n"
    return body


async def _read_head(conn: _Conn, method: str,
                     timeout: float | None) -> tuple[int, bytes, list, int | None, bool]:
    """The status, reason, raw headers and body length of the answer (skipping 1xx interim answers;
    length ``-1`` means chunked, None "until the close") and whether the connection stays open."""
    while True:
        end = conn.buf.find(b"\r\n\r\n")
        while end < 0:
            if len(conn.buf) > MAX_HEAD_BYTES:
                raise httpx.RemoteProtocolError("the answer's head is over 64 KiB")
            if conn.closed:
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            await conn.more(timeout)
            end = conn.buf.find(b"\r\n\r\n")
        head = bytes(conn.buf[:end])
        del conn.buf[:end + 4]
        status, reason, headers, http10 = _parse_head(head)
        if 100 <= status < 200 and status != 101:
            continue
        return status, reason, headers, _body_length(method, status, headers), not http10 and _keeps_alive(headers)


def _parse_head(head: bytes) -> tuple[int, bytes, list[tuple[bytes, bytes]], bool]:
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit() or len(parts[1]) != 3:
        raise httpx.RemoteProtocolError(f"not an HTTP/1.x status line: {lines[0][:100]!r}")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise httpx.RemoteProtocolError(f"malformed header line: {line[:100]!r}")
        headers.append((name, value.strip()))
    return int(parts[1]), parts[2] if len(parts) > 2 else b"", headers, parts[0] == b"HTTP/1.0"


def _body_length(method: str, status: int, headers: list[tuple[bytes, bytes]]) -> int | None:
    if method == "HEAD" or status in _NO_BODY_STATUS or status < 200:
        return 0
    length = None
    for name, value in headers:
        low = name.lower()
        if low == b"transfer-encoding" and b"chunked" in value.lower():
            return -1
        if low == b"content-length":
            if not value.isdigit():
                raise httpx.RemoteProtocolError(f"bad Content-Length {value[:40]!r}")
            length = int(value)
    return length


def _keeps_alive(headers: list[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        low = name.lower()
        if low == b"connection" and b"close" in value.lower():
            return False
    return True


class _Body(httpx.AsyncByteStream):
    """The answer's body as httpx reads it; closing it hands the connection back (read whole, keep-alive)
    or closes it."""

    def __init__(self, transport: Http1Transport, pool: _Pool, conn: _Conn, length: int | None,
                 timeout: float | None, keep_alive: bool):
        self._t, self._pool, self._conn, self._timeout = transport, pool, conn, timeout
        self._length, self._keep, self._done, self._closed = length, keep_alive and length is not None, False, False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            if self._length == -1:
                async for chunk in _chunked(self._conn, self._timeout):
                    yield chunk
            else:
                async for chunk in _sized(self._conn, self._length, self._timeout):
                    yield chunk
            self._done = True
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._done and self._keep and not self._conn.buf:
            self._t.release(self._pool, self._conn)
        else:
            self._t._discard(self._pool, self._conn)


async def _sized(conn: _Conn, length: int | None, timeout: float | None) -> AsyncIterator[bytes]:
    """``length`` bytes of body (None: until the close)."""
    left = length
    while left is None or left > 0:
        if conn.buf:
            take = len(conn.buf) if left is None else min(left, len(conn.buf))
            chunk = bytes(conn.buf[:take])
            del conn.buf[:take]
            if left is not None:
                left -= take
            yield chunk
        elif conn.closed:
            if left is None:
                return
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
        else:
            await conn.more(timeout)


async def _line(conn: _Conn, timeout: float | None) -> bytes:
    while (end := conn.buf.find(b"\r\n")) < 0:
        if conn.closed or len(conn.buf) > MAX_HEAD_BYTES:
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
        await conn.more(timeout)
    line = bytes(conn.buf[:end])
    del conn.buf[:end + 2]
    return line


async def _chunked(conn: _Conn, timeout: float | None) -> AsyncIterator[bytes]:
    while True:
        size_text = (await _line(conn, timeout)).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise httpx.RemoteProtocolError(f"bad chunk size {size_text[:20]!r}") from None
        if size == 0:
            while await _line(conn, timeout):  # trailers, up to the empty line
                pass
            return
        async for chunk in _sized(conn, size, timeout):
            yield chunk
        if await _line(conn, timeout):
            raise httpx.RemoteProtocolError("chunk not followed by CRLF")
