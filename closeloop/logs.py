"""Structured JSON logs (standard library ``logging``): one JSON object per line.

``configure_logging("json")`` (the default of ``closeloop api`` and ``closeloop serve``; set
``CLOSELOOP_LOG_FORMAT=text`` for plain lines) installs :class:`JsonFormatter` on the root logger.
A record carries ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``msg`` and only the
whitelisted extra fields of :data:`FIELDS` (ids, counts, durations, HTTP method/route/status):
a field not in the list is dropped, so a stray ``extra={"email": ...}`` never reaches the log.
Messages themselves must name ids, never people (the services' log lines do).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

#: Extra fields a log line may carry: identifiers and figures only, never personal data.
FIELDS = ("complaint_id", "task_id", "improvement_id", "outbox_id", "flow", "run", "worker", "department",
          "method", "route", "status", "duration_ms", "counts", "event")

#: Loggers held at WARNING or above by :func:`configure_logging`: one INFO line per HTTP request
QUIET_LOGGERS = ("httpx", "httpcore")


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON line (see the module docstring for the keys)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
               "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                out[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"[:500]
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(fmt: str = "json", level: int = logging.INFO) -> None:
    """Send the root logger's records to stderr as JSON lines (``fmt="json"``) or plain text (``"text"``).

    httpx's own per-request lines (``httpx``, ``httpcore``) are kept to warnings and above: Prefect's client
    polls its server every few seconds, which at INFO filled ``closeloop serve``'s output with a request line
    every 10 s; closeloop logs its own deliveries' outcomes itself.

    Raises ``ValueError`` naming ``CLOSELOOP_LOG_FORMAT`` for any other format.
    """
    if fmt not in ("json", "text"):
        raise ValueError(f"CLOSELOOP_LOG_FORMAT: 'json' or 'text', got {fmt!r}")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_closeloop", False)]:
        root.removeHandler(old)
    handler._closeloop = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for chatty in QUIET_LOGGERS:
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))
