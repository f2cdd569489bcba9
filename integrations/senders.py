"""Senders for outbox messages: signed JSON webhooks (httpx), Apprise URLs, a local capture file.

Every sender implements :class:`~integrations.outbound.Sender` (re-exported here
with :class:`OutgoingMessage` and :class:`SendResult`): ``await send(msg)`` returns
a :class:`SendResult` and does not raise for delivery problems.

Webhook classification (CASES.md C23; httpx's transport ``retries`` only covers
connecting, so retries are the outbox's job, with the same key every time):

==========================================  ============  =========================================
what happened                               outcome       why
==========================================  ============  =========================================
2xx                                         delivered     the receiver accepted it
429, 5xx (``Retry-After`` parsed)           retry         the receiver said "later"
other 4xx, 3xx (redirects are not followed) failed        permanent; the error text is kept
connect error / connect or pool timeout     retry         nothing was sent
read timeout, dropped connection, or the    unknown       the receiver may have it: retried with
total deadline after the request went out                 the SAME ``Idempotency-Key``
==========================================  ============  =========================================

Client layout (``make_webhook_client``): one ``httpx.AsyncClient`` (the httpx API
unchanged) over :class:`integrations.http1.Http1Transport`, a lean HTTP/1.1
keep-alive transport on an ``asyncio.Protocol`` that raises httpx's exceptions as
httpcore does (its table is in that module) and feeds the ``trace`` extension, so
the classification above holds unchanged. httpcore spends most of a small POST in
its anyio/h11 layers and rescans its pool on every request (one stock
``AsyncClient`` with 50 requests in flight delivered fewer POSTs per second than
with 1); :class:`SpreadTransport` (many tiny httpcore pools, least busy first) was
the previous layout and is kept for comparison. ``bench/deliver.py`` prints the figures.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx

from .http1 import Http1Transport
from .outbound import OUTCOMES, Outcome, OutgoingMessage, Sender, SendResult

__all__ = [
    "OUTCOMES", "Outcome", "OutgoingMessage", "SendResult", "Sender",
    "WebhookSender", "CaptureSender", "AppriseSender", "RoutingSender", "SpreadTransport", "WebhookClient",
    "make_webhook_client", "Http1Transport", "open_default_sender", "webhook_body", "sign", "verify_signature",
    "parse_retry_after", "SIGNATURE_HEADER",
]

SIGNATURE_HEADER = "X-Closeloop-Signature"
USER_AGENT = "closeloop-delivery/0.1"
ERROR_BODY_CHARS = 300  # of a refusing receiver's answer, kept in last_error


# --- webhook body and signature ------------------------------------------------------------

#: ``<``, ``>`` and ``&`` written as JSON escapes: the decoded strings are unchanged, and a receiver that pastes
#: the body into an HTML page or a ``<script>`` block cannot be made to run a customer's markup (issue 13,
#: "channels are safe"; the escaping of Go's ``encoding/json`` and of Django's ``json_script``).
_HTML_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def webhook_body(msg: OutgoingMessage) -> bytes:
    """The exact bytes POSTed (and signed): compact UTF-8 JSON, non-ASCII kept as is, ``<``/``>``/``&``
    escaped (``\\u003c``...) so that no customer-supplied value is markup in the raw body."""
    doc = {"id": msg.id, "idempotency_key": msg.idempotency_key, "recipient": msg.recipient,
           "subject": msg.subject, "body": msg.body, "payload": msg.payload}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).translate(_HTML_SAFE).encode("utf-8")


def sign(secret: bytes, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of body>``, the ``X-Closeloop-Signature`` header value."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """What a receiver does: recompute over the raw body bytes, compare in constant time."""
    return header is not None and bool(header) and hmac.compare_digest(sign(secret, body), header.strip())


def parse_retry_after(value: str | None, *, reference: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from delta-seconds or an HTTP-date (RFC 9110 §10.2.3).

    An HTTP-date is measured from ``reference`` (the response's ``Date`` header
    when the caller has it, so skew between the two clocks does not matter).
    Unparseable or missing: ``None``; a date in the past: ``0``.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    when = _http_date(value)
    if when is None or reference is None:
        return None
    return max(0.0, (when - reference).total_seconds())


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when


# --- client layout ---------------------------------------------------------------------------

class SpreadTransport(httpx.AsyncBaseTransport):
    """Many small httpcore pools behind one httpx transport; each request goes to the least busy.

    Keeps every pool at a couple of connections, where httpcore's per-request pool
    scan is cheap, and keeps idle connections alive (``max_keepalive_connections``
    equal to ``max_connections``, so no connection churn at high concurrency).
    """

    def __init__(self, pools: int = 32, connections_per_pool: int = 2, *,
                 verify: ssl.SSLContext | bool = True, keepalive_expiry: float = 5.0):
        if pools < 1 or connections_per_pool < 1:
            raise ValueError("SpreadTransport needs at least one pool of one connection")
        if verify is True:
            verify = httpx.create_ssl_context()  # once: building a context costs ~20 ms
        limits = httpx.Limits(max_connections=connections_per_pool,
                              max_keepalive_connections=connections_per_pool,
                              keepalive_expiry=keepalive_expiry)
        self._pools = [httpx.AsyncHTTPTransport(verify=verify, limits=limits) for _ in range(pools)]
        self._busy = [0] * pools

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        busy = self._busy
        i = busy.index(min(busy))
        busy[i] += 1
        try:
            response = await self._pools[i].handle_async_request(request)
        except BaseException:
            busy[i] -= 1
            raise
        response.stream = _Release(response.stream, busy, i)
        return response

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


class _Release(httpx.AsyncByteStream):
    """Counts a pool busy until the response body is closed (the connection is back in its pool)."""

    def __init__(self, stream, busy: list[int], index: int):
        self._stream, self._busy, self._index, self._done = stream, busy, index, False

    async def __aiter__(self):
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if not self._done:
                self._done = True
                self._busy[self._index] -= 1


class _NoCookies(httpx.Cookies):
    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class WebhookClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` that keeps no cookies.

    One receiver's ``Set-Cookie`` must not ride along on later webhooks, and
    httpx's cookie extraction (a urllib request emulation per response) costs
    about 5% of a small POST.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, value) -> None:  # httpx's constructor assigns it; nothing is kept
        return None


def make_webhook_client(deadline_s: float, *, pools: int = 32, connections_per_pool: int = 2,
                        connect_timeout: float = 5.0) -> httpx.AsyncClient:
    """The delivery client: a :class:`WebhookClient` (an ``httpx.AsyncClient``) over
    :class:`~integrations.http1.Http1Transport`, at most ``pools * connections_per_pool`` connections
    per receiver (the names are those of the earlier :class:`SpreadTransport` layout).

    Per-operation timeouts are at most the total deadline (connect at most
    ``connect_timeout``); redirects are not followed (a webhook that moved is a
    configuration error to see, not to follow with a signed body).
    """
    timeout = httpx.Timeout(deadline_s, connect=min(connect_timeout, deadline_s))
    return WebhookClient(transport=Http1Transport(max_connections=pools * connections_per_pool), timeout=timeout,
                         follow_redirects=False, headers={"User-Agent": USER_AGENT})


# --- webhook -----------------------------------------------------------------------------------

class _Progress:
    """Fed by httpcore's ``trace`` extension: has any byte of the request gone out?"""

    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False

    async def __call__(self, event: str, info: dict) -> None:
        if not self.sent and event.endswith("send_request_headers.started"):
            self.sent = True


def _traceable(client: httpx.AsyncClient) -> bool:
    transport = getattr(client, "_transport", None)
    return isinstance(transport, (httpx.AsyncHTTPTransport, SpreadTransport, Http1Transport))


class WebhookSender:
    """POSTs signed JSON to ``msg.target`` (an http(s) URL); see the module docstring for outcomes.

    Body: ``{"id", "idempotency_key", "recipient", "subject", "body", "payload"}``
    (:func:`webhook_body`). Headers: ``Idempotency-Key`` (the outbox key, the same
    on every attempt), ``X-Closeloop-Signature: sha256=<hex HMAC-SHA256 of the
    exact body bytes>`` and ``Content-Type: application/json; charset=utf-8``.

    Each attempt runs under a total deadline of ``deadline_s`` (``asyncio.timeout``)
    on top of the client's per-operation timeouts, so a receiver trickling its
    answer cannot hold a worker. Whether the request had gone out when a deadline
    or an I/O error struck is known from httpcore's ``trace`` extension; with a
    transport that does not trace, such an error counts as ``unknown`` (the safe
    side: both are retried with the same key).

    ``clock`` (a callable returning an aware UTC datetime) is only the reference
    for a ``Retry-After`` HTTP-date when the response has no ``Date`` header.
    """

    def __init__(self, client: httpx.AsyncClient, secret: bytes, deadline_s: float, *,
                 clock: Callable[[], datetime] | None = None):
        if deadline_s <= 0:
            raise ValueError("deadline_s must be positive")
        self.client = client
        self.secret = secret
        self.deadline_s = deadline_s
        self._clock = clock or (lambda: datetime.now(UTC))
        self._traced = _traceable(client)
        self._urls: dict[str, httpx.URL] = {}  # parsed targets (httpx parses a str URL on every request)

    def _url(self, target: str) -> httpx.URL:
        url = self._urls.get(target)
        if url is None:
            if len(self._urls) >= 1024:
                self._urls.clear()
            url = self._urls[target] = httpx.URL(target)
        return url

    async def send(self, msg: OutgoingMessage) -> SendResult:
        scheme = urlsplit(msg.target).scheme.lower()
        if scheme not in ("http", "https"):
            return SendResult("failed", error=f"webhook target must be an http(s) URL, got {msg.target!r}")
        body = webhook_body(msg)
        headers = {
            "Idempotency-Key": msg.idempotency_key,
            SIGNATURE_HEADER: sign(self.secret, body),
            "Content-Type": "application/json; charset=utf-8",
        }
        progress = _Progress()
        status: int | None = None
        response: httpx.Response | None = None
        try:
            async with asyncio.timeout(self.deadline_s):
                request = self.client.build_request("POST", self._url(msg.target), content=body, headers=headers,
                                                    extensions={"trace": progress} if self._traced else None)
                response = await self.client.send(request, stream=True)
                status = response.status_code
                try:
                    await response.aread()
                finally:
                    await response.aclose()
        except TimeoutError:
            if status is not None:  # the answer's head arrived; only its body was late
                return self._classify(status, response, None)
            return self._after_error(progress, f"no answer within the {self.deadline_s:g} s deadline")
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return SendResult("retry", error=f"{type(exc).__name__}: {str(exc) or 'not connected'} "
                                             "(nothing was sent)")
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            return SendResult("failed", error=f"{type(exc).__name__}: {exc}")
        except httpx.HTTPError as exc:
            if status is not None:
                return self._classify(status, response, None)
            return self._after_error(progress, f"{type(exc).__name__}: {str(exc) or 'no detail'}")
        return self._classify(status, response, response)

    def _after_error(self, progress: _Progress, what: str) -> SendResult:
        if self._traced and not progress.sent:
            return SendResult("retry", error=f"{what} (before the request was sent)")
        return SendResult("unknown", error=f"{what} (after the request was sent: the receiver may have it)")

    def _classify(self, status: int, response: httpx.Response | None,
                  read: httpx.Response | None) -> SendResult:
        if 200 <= status < 300:
            return SendResult("delivered", status_code=status)
        text = ""
        if read is not None:
            try:
                text = read.text[:ERROR_BODY_CHARS].strip()
            except Exception:  # noqa: BLE001 - a body we cannot decode is still an error to report
                text = ""
        error = f"HTTP {status}" + (f": {text}" if text else "")
        if status == 429 or 500 <= status < 600:
            retry_after = None
            if response is not None:
                reference = _http_date(response.headers.get("date")) or self._clock()
                retry_after = parse_retry_after(response.headers.get("retry-after"), reference=reference)
            return SendResult("retry", status_code=status, retry_after=retry_after, error=error)
        if 300 <= status < 400 and response is not None and response.headers.get("location"):
            error += f" (redirect to {response.headers['location']} not followed)"
        return SendResult("failed", status_code=status, error=error)


# --- capture -------------------------------------------------------------------------------------

class CaptureSender:
    """Appends one JSON line per message to a local file: nothing leaves the machine (replay, demo).

    Targets: ``capture:///abs/path.jsonl`` (an absolute path) or ``capture://name``
    (a file ``name`` under ``directory``; ``.jsonl`` is added when it has no suffix;
    it may not climb out of the directory). Each line is written with a single
    ``write`` on a file opened for appending; a resent message appears again with
    the same ``idempotency_key`` (readers dedupe by it, as a receiver would).
    """

    def __init__(self, directory: str | os.PathLike = "out/capture"):
        self.directory = Path(directory)

    def path_for(self, target: str) -> Path:
        parts = urlsplit(target)
        if parts.scheme != "capture":
            raise ValueError(f"capture target must start with capture://, got {target!r}")
        if parts.netloc:
            name = unquote(parts.netloc + parts.path)
            path = Path(name)
            if not path.suffix:
                path = path.with_suffix(".jsonl")
            base = self.directory.resolve()
            full = (base / path).resolve()
            if not full.is_relative_to(base):
                raise ValueError(f"capture target {target!r} leaves the capture directory {base}")
            return full
        path = Path(unquote(parts.path))
        if not path.is_absolute():
            raise ValueError(f"capture target {target!r}: use capture:///absolute/path or capture://name")
        return path

    async def send(self, msg: OutgoingMessage) -> SendResult:
        try:
            path = self.path_for(msg.target)
        except ValueError as exc:
            return SendResult("failed", error=str(exc))
        line = json.dumps({"id": msg.id, "idempotency_key": msg.idempotency_key, "channel": msg.channel,
                           "target": msg.target, "recipient": msg.recipient, "subject": msg.subject,
                           "body": msg.body, "payload": msg.payload, "attempt": msg.attempt},
                          ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as exc:
            return SendResult("retry", error=f"capture write to {path} failed: {exc}")
        return SendResult("delivered")


# --- apprise ---------------------------------------------------------------------------------------

class AppriseSender:
    """Chat and e-mail targets through Apprise URLs (WeCom ``wecombot://``, DingTalk ``dingtalk://``,
    Feishu ``feishu://``, Slack ``slack://``, e-mail ``mailto://``, ...).

    Apprise's ``notify`` is blocking; it runs in a worker thread under the total
    deadline. **Apprise cannot pass an idempotency key**: a retry after an
    ``unknown`` outcome (the deadline struck while Apprise was still sending) may
    show the message twice in the chat, and the abandoned thread may still
    finish its send. Apprise reports success or failure only, not why: a refusal is
    treated as ``retry`` (bounded by the outbox's maximum attempts); a URL Apprise
    does not understand fails at once. ``apprise`` is imported when the sender is built.
    """

    def __init__(self, deadline_s: float | None = 30.0):
        """``deadline_s``: the total deadline of one send; None waits as long as Apprise takes."""
        # deferred: Apprise loads its plugins on import (about 0.5 s); only Apprise targets need it
        import apprise  # noqa: PLC0415 - optional at import time of this module

        self._apprise = apprise
        self.deadline_s = deadline_s

    def _notify(self, msg: OutgoingMessage) -> tuple[Outcome, str | None]:
        app = self._apprise.Apprise()
        if not app.add(msg.target):
            return "failed", f"Apprise does not understand the target URL ({_redact(msg.target)})"
        # bodies are Markdown with user text escaped (closeloop/services/markdown.py); Apprise converts
        # them for each service (HTML for e-mail, text for plain-text targets)
        result = app.notify(body=msg.body, title=msg.subject, body_format=self._apprise.NotifyFormat.MARKDOWN)
        if result:
            _close(result)
            return "delivered", None
        # Apprise 2 returns an AppriseResult (status and captured logs); 1.x a bare bool
        status = getattr(getattr(result, "status", None), "name", None)
        logs = getattr(result, "logs", None)
        text = "; ".join(str(getattr(e, "message", e)) for e in logs()) if callable(logs) else ""
        _close(result)
        error = f"Apprise notify failed ({status or 'no detail'})" + (f": {text[-ERROR_BODY_CHARS:]}" if text else "")
        return ("unknown" if status == "TIMEOUT" else "retry"), error

    async def send(self, msg: OutgoingMessage) -> SendResult:
        try:
            async with asyncio.timeout(self.deadline_s):
                outcome, error = await asyncio.to_thread(self._notify, msg)
        except TimeoutError:
            return SendResult("unknown", error=f"Apprise did not finish within {self.deadline_s:g} s "
                                               "(it may still send; Apprise carries no idempotency key)")
        except Exception as exc:  # noqa: BLE001 - a plugin raising must not stop the batch
            return SendResult("unknown", error=f"Apprise raised {type(exc).__name__}: {exc}")
        return SendResult(outcome, error=error)


def _close(result) -> None:
    close = getattr(result, "close", None)
    if callable(close):
        close()


def _redact(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://…" if parts.scheme else "…"


# --- routing ---------------------------------------------------------------------------------------

class RoutingSender:
    """Picks a sender by ``msg.channel`` (``webhook``, ``capture``, ``apprise``, ...)."""

    def __init__(self, senders: Mapping[str, Sender]):
        self.senders = dict(senders)

    async def send(self, msg: OutgoingMessage) -> SendResult:
        sender = self.senders.get(msg.channel)
        if sender is None:
            return SendResult("failed", error=f"no sender for channel {msg.channel!r} "
                                              f"(configured: {', '.join(sorted(self.senders)) or 'none'})")
        return await sender.send(msg)


@asynccontextmanager
async def open_default_sender(*, secret: bytes, deadline_s: float, capture_dir: str | os.PathLike,
                              pools: int = 32, connections_per_pool: int = 2,
                              apprise: bool = True, email: Sender | None = None) -> AsyncIterator[RoutingSender]:
    """A :class:`RoutingSender` over webhook, capture, (when importable) Apprise and, when given, ``email``
    (an :class:`integrations.smtp.SmtpSender`); closes the client."""
    client = make_webhook_client(deadline_s, pools=pools, connections_per_pool=connections_per_pool)
    senders: dict[str, Sender] = {"webhook": WebhookSender(client, secret, deadline_s),
                                  "capture": CaptureSender(capture_dir)}
    if email is not None:
        senders["email"] = email
    if apprise:
        try:
            senders["apprise"] = AppriseSender(deadline_s)
        except ImportError:
            pass
    try:
        yield RoutingSender(senders)
    finally:
        await client.aclose()
