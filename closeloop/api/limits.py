"""A limit on request bodies (pure ASGI middleware), so no single request can fill the server's memory.

A body longer than ``max_bytes`` gets **413** in the API's error shape (code ``payload_too_large``,
field ``body``) before any route runs: at once when ``Content-Length`` says so, or as soon as the
bytes received pass the limit (chunked uploads). The default, 1 MiB
(``CLOSELOOP_API_MAX_BODY_BYTES``), is far above any valid request: the largest field, a complaint's
text, is bounded by its schema. File uploads (``POST /api/v1/complaints/{id}/attachments`` and the
dashboard's note form, :data:`UPLOAD_PATHS`) have their own limit: the attachment size cap
(``CLOSELOOP_ATTACHMENT_MAX_BYTES``) plus :data:`UPLOAD_SLACK` for the form's other fields. The raw mail
webhook (``POST /api/v1/inbound/email``, :data:`MAIL_PATH`) takes a message carrying one attachment at the
cap: :func:`mail_limit`, the cap base64-encoded (4/3, plus CRLF every 76 characters) plus the general limit
for the headers and text parts; 14,348,938 + 1,048,576 = 15,397,514 bytes (about 14.7 MiB) for the
defaults (10 MiB cap, 1 MiB limit).
"""

from __future__ import annotations

import json
import re

DEFAULT_MAX_BODY_BYTES = 1 << 20
#: Room for a multipart upload's other fields and boundaries beside the file (64 KiB).
UPLOAD_SLACK = 64 * 1024
#: The POST paths that take a file: the API's upload and the complaint page's note form.
UPLOAD_PATHS = re.compile(r"/api/v1/complaints/\d{1,10}/attachments|/complaints/\d{1,10}/work/note")
#: The raw RFC 822 webhook: its attachments arrive base64-encoded inside the body.
MAIL_PATH = "/api/v1/inbound/email"


def mail_limit(attachment_max_bytes: int, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> int:
    """Bytes of a raw message with one ``attachment_max_bytes`` attachment (base64: 4 characters per 3 bytes,
    lines of 76 plus CRLF) and ``max_bytes`` of headers and text; at least ``max_bytes``."""
    encoded = -(-attachment_max_bytes // 3) * 4
    return max(max_bytes, encoded + -(-encoded // 76) * 2 + max_bytes)


def _413_body(max_bytes: int) -> bytes:
    return json.dumps({"error": {"code": "payload_too_large", "field": "body", "details": [],
                                 "message": f"the request body is over the limit of {max_bytes} bytes"}}).encode()


class BodyLimit:
    """Wrap an ASGI ``app``; requests with a body over ``max_bytes`` (``upload_max_bytes`` for a POST to one
    of :data:`UPLOAD_PATHS`, ``mail_max_bytes`` for a POST to :data:`MAIL_PATH`) are answered 413."""

    def __init__(self, app, max_bytes: int = DEFAULT_MAX_BODY_BYTES, upload_max_bytes: int | None = None,
                 mail_max_bytes: int | None = None):
        self.app, self.default_max, self.upload_max = app, max_bytes, max(upload_max_bytes or 0, max_bytes)
        self.mail_max = max(mail_max_bytes or 0, max_bytes)

    def limit(self, scope) -> int:
        if scope.get("method") != "POST":
            return self.default_max
        path = scope.get("path", "")
        if path == MAIL_PATH:
            return self.mail_max
        return self.upload_max if UPLOAD_PATHS.fullmatch(path) else self.default_max

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        max_bytes = self.limit(scope)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > max_bytes:
                    return await self._reject(send, max_bytes)
        # read the body first (at most max_bytes are held), then hand it on in one message
        chunks, seen = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > max_bytes:
                return await self._reject(send, max_bytes)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send, max_bytes: int) -> None:
        body = _413_body(max_bytes)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
