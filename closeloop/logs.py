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
import os
from datetime import UTC, datetime
from pathlib import Path

#: Extra fields a log line may carry: identifiers and figures only, never personal data.
FIELDS = ("complaint_id", "task_id", "improvement_id", "outbox_id", "flow", "run", "worker", "department",
          "method", "route", "status", "duration_ms", "counts", "event",
          "flow_run_name", "flow_run_id", "task_run_name")  # the last three: Prefect's run loggers

#: Prefect's logging configuration for flow-run processes writing :class:`JsonFormatter` lines
PREFECT_LOGGING_YML = Path(__file__).with_name("prefect_logging.yml")

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
    _take_over_prefect_console(root, handler)


def _take_over_prefect_console(root: logging.Logger, handler: logging.Handler) -> None:
    """Prefect's logging configuration puts its own console handler on the root logger (and on ``uvicorn``,
    ``fastapi``, which do not propagate): beside ours, every line came out twice, once as Prefect's plain text
    and once in our format. Ours takes its place wherever it is (Prefect's API handler, which sends flow-run
    logs to the Prefect UI, is kept)."""
    loggers = [root, *(lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger))]
    for logger in loggers:
        prefect_console = [h for h in logger.handlers if type(h).__name__ == "PrefectConsoleHandler"]
        for h in prefect_console:
            logger.removeHandler(h)
        if prefect_console and logger is not root and handler not in logger.handlers:
            logger.addHandler(handler)


def json_for_prefect_runs(fmt: str) -> None:
    """With ``fmt`` ``json``, have the Prefect flow-run processes this one starts (``closeloop serve``) log JSON
    lines too: ``PREFECT_LOGGING_SETTINGS_PATH`` set to :data:`PREFECT_LOGGING_YML`, unless it is set already
    (an operator's own configuration wins). Plain text (``text``) is Prefect's own format."""
    if fmt == "json":
        os.environ.setdefault("PREFECT_LOGGING_SETTINGS_PATH", str(PREFECT_LOGGING_YML))
