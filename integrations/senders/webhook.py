"""Signed JSON webhooks over httpx: the body, its signatures, the client layout and the sender
(classification of every outcome: the table in :mod:`integrations.senders`).

Two signatures ride on every webhook, keyed by one secret (:mod:`integrations.webhook_keys`: for a
``whsec_<base64>`` secret the first is keyed by the decoded bytes, the second by the secret's text):

- Standard Webhooks v1 (https://www.standardwebhooks.com): ``webhook-id`` (the outbox row's idempotency
  key: the same on every retry), ``webhook-timestamp`` (Unix seconds of the send, from the sender's clock)
  and ``webhook-signature: v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">``. The
  timestamp is signed, so a receiver that refuses stale timestamps refuses a replayed capture.
- ``X-Closeloop-Signature: sha256=<hex HMAC-SHA256 of body>``: deprecated, kept for existing receivers; it
  does not cover a time, so a captured request verifies forever.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import ssl
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from integrations.http1 import Http1Transport
from integrations.outbound import OutgoingMessage, SendResult
from integrations.webhook_keys import SigningKeys, webhook_keys
from integrations.webhook_urls import webhook_key

SIGNATURE_HEADER = "X-Closeloop-Signature"  # deprecated: body only, no timestamp (replayable)
WEBHOOK_ID_HEADER = "webhook-id"
WEBHOOK_TIMESTAMP_HEADER = "webhook-timestamp"
WEBHOOK_SIGNATURE_HEADER = "webhook-signature"
TIMESTAMP_TOLERANCE = timedelta(minutes=5)  # the Standard Webhooks libraries' default, either direction
USER_AGENT = "closeloop-delivery/0.1"
ERROR_BODY_CHARS = 300  # of a refusing receiver's answer, kept in last_error


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


def sign_v1(secret: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">``, the ``webhook-signature`` value
    (Standard Webhooks; ``timestamp`` in Unix seconds, ``msg_id`` UTF-8, ``body`` the exact bytes sent)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode("ascii")


def standard_headers(secret: bytes, msg_id: str, sent_at: datetime, body: bytes,
                     previous: tuple[bytes, ...] = ()) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt (``sent_at`` aware; whole seconds are signed).

    ``previous``: keys being rotated out; each adds its own ``v1,`` entry after the current key's, space
    separated, so a receiver still holding an old secret verifies during a rotation (the spec's "Signature
    scheme": several signatures in one header, any one matching is enough)."""
    timestamp = int(sent_at.timestamp())
    signatures = " ".join(sign_v1(key, msg_id, timestamp, body) for key in (secret, *previous))
    return {WEBHOOK_ID_HEADER: msg_id, WEBHOOK_TIMESTAMP_HEADER: str(timestamp),
            WEBHOOK_SIGNATURE_HEADER: signatures}


class WebhookRejected(ValueError):
    """A webhook that fails :func:`verify_webhook` (the message says which check)."""


def verify_webhook(secret: str | bytes, headers: Mapping[str, str], body: bytes, *, now: datetime,
                   tolerance: timedelta = TIMESTAMP_TOLERANCE) -> str:
    """What a receiver does with the Standard Webhooks headers (``headers`` keyed in lower case).

    ``secret``: the secret as the sender holds it (``CLOSELOOP_WEBHOOK_SECRET``, a ``str``), read as the sender
    reads it (:func:`integrations.webhook_keys.webhook_keys`: ``whsec_<base64>`` gives the decoded bytes, a raw
    secret its UTF-8 bytes); or the HMAC key itself as ``bytes``. A malformed ``whsec_`` secret raises
    :class:`~integrations.webhook_keys.WebhookSecretError` naming ``secret`` (never taken as a raw key).

    Requires all three headers, a ``webhook-timestamp`` within ``tolerance`` of ``now`` (either side), and
    one ``v1,`` entry of the space-separated ``webhook-signature`` equal (constant time) to the HMAC over the
    raw ``body``. Returns the ``webhook-id`` (the key to de-duplicate on: retries repeat it). Raises
    :class:`WebhookRejected` otherwise.
    """
    key = secret if isinstance(secret, bytes) else webhook_keys(secret, setting="secret").v1
    msg_id, stamp, given = (headers.get(h) for h in
                            (WEBHOOK_ID_HEADER, WEBHOOK_TIMESTAMP_HEADER, WEBHOOK_SIGNATURE_HEADER))
    if not msg_id or not stamp or not given:
        raise WebhookRejected("missing webhook-id, webhook-timestamp or webhook-signature")
    if not stamp.isascii() or not stamp.isdigit():
        raise WebhookRejected("webhook-timestamp is not Unix seconds")
    if abs(now.timestamp() - int(stamp)) > tolerance.total_seconds():
        raise WebhookRejected("webhook-timestamp is outside the tolerance (stale, replayed or skewed)")
    expected = sign_v1(key, msg_id, int(stamp), body).encode("ascii")
    if not any(hmac.compare_digest(expected, entry.encode("utf-8", "replace")) for entry in given.split()):
        raise WebhookRejected("no webhook-signature entry matches")
    return msg_id


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
    (:func:`webhook_body`). Headers: ``Idempotency-Key`` and ``webhook-id`` (the outbox key, the same
    on every attempt), ``webhook-timestamp`` (this attempt's send time from ``clock``, Unix seconds),
    ``webhook-signature`` (:func:`sign_v1`), the deprecated ``X-Closeloop-Signature: sha256=<hex
    HMAC-SHA256 of the exact body bytes>`` and ``Content-Type: application/json; charset=utf-8``.

    Each attempt runs under a total deadline of ``deadline_s`` (``asyncio.timeout``)
    on top of the client's per-operation timeouts, so a receiver trickling its
    answer cannot hold a worker. Whether the request had gone out when a deadline
    or an I/O error struck is known from httpcore's ``trace`` extension; with a
    transport that does not trace, such an error counts as ``unknown`` (the safe
    side: both are retried with the same key).

    ``clock`` (a callable returning an aware UTC datetime; pass the delivery's clock) gives the signed
    ``webhook-timestamp`` and is the reference for a ``Retry-After`` HTTP-date when the response has no
    ``Date`` header.

    ``secret`` is the HMAC key of ``webhook-signature``; ``legacy_secret`` that of ``X-Closeloop-Signature``
    (default: ``secret``); ``previous`` keys being rotated out, each signing a further ``webhook-signature``
    entry (:func:`standard_headers`). From the settings: :func:`integrations.webhook_keys.webhook_keys`.
    ``targets``: the keys of targets with a secret of their own, by target URL (compared with ``msg.target`` in
    :func:`integrations.webhook_urls.webhook_key` form: scheme and host in any case, a default port dropped)
    (:meth:`closeloop.config.Config.webhook_keys`); they replace all three for that target, chosen at each send
    from the message's target, so rows queued before a target got its secret are signed with it too.
    """

    def __init__(self, client: httpx.AsyncClient, secret: bytes, deadline_s: float, *,
                 legacy_secret: bytes | None = None, previous: tuple[bytes, ...] = (),
                 targets: Mapping[str, SigningKeys] | None = None,
                 clock: Callable[[], datetime] | None = None):
        if deadline_s <= 0:
            raise ValueError("deadline_s must be positive")
        self.client = client
        self.secret = secret
        self.legacy_secret = secret if legacy_secret is None else legacy_secret
        self.previous = tuple(previous)
        self._default = SigningKeys(v1=secret, legacy=self.legacy_secret, previous=self.previous)
        self._targets = {webhook_key(url): keys for url, keys in (targets or {}).items()}
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
        keys = self._targets.get(webhook_key(msg.target), self._default) if self._targets else self._default
        headers = {
            "Idempotency-Key": msg.idempotency_key,
            **standard_headers(keys.v1, msg.idempotency_key, self._clock(), body, keys.previous),
            SIGNATURE_HEADER: sign(keys.legacy, body),
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
