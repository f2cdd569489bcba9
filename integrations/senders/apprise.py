"""Apprise URLs (chat and other notification services), run in a worker thread with a deadline."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from integrations.outbound import Outcome, OutgoingMessage, SendResult
from integrations.senders.webhook import ERROR_BODY_CHARS


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
        if not app.add(msg.target):  # the rule input checks apply too: integrations.targets.apprise_understands
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
