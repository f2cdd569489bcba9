"""A limit on request bodies (pure ASGI middleware), so no single request can fill the server's memory.

A body longer than ``max_bytes`` gets **413** in the API's error shape (code ``payload_too_large``,
field ``body``) before any route runs: at once when ``Content-Length`` says so, or as soon as the
bytes received pass the limit (chunked uploads). The default, 1 MiB
(``CLOSELOOP_API_MAX_BODY_BYTES``), is far above any valid request: the largest field, a complaint's
text, is bounded by its schema.
"""

from __future__ import annotations

import json

DEFAULT_MAX_BODY_BYTES = 1 << 20


def _413_body(max_bytes: int) -> bytes:
    return json.dumps({"error": {"code": "payload_too_large", "field": "body", "details": [],
                                 "message": f"the request body is over the limit of {max_bytes} bytes"}}).encode()


class BodyLimit:
    """Wrap an ASGI ``app``; requests with a body over ``max_bytes`` are answered 413."""

    def __init__(self, app, max_bytes: int = DEFAULT_MAX_BODY_BYTES):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    return await self._reject(send)
        # read the body first (at most max_bytes are held), then hand it on in one message
        chunks, seen = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                return await self._reject(send)
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

    async def _reject(self, send) -> None:
        body = _413_body(self.max_bytes)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
