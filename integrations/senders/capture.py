"""A local capture file per target (``capture://name`` -> JSON Lines): demos, replays and tests."""

from __future__ import annotations

import json
import os
from pathlib import Path

from integrations.outbound import OutgoingMessage, SendResult
from integrations.targets import capture_path


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
        """The file of ``target`` (:func:`integrations.targets.capture_path`, the rule the input checks apply);
        ``ValueError`` also for a name leading out of the directory through a symbolic link."""
        path = capture_path(target)
        if path.is_absolute():
            return Path(path)
        base = self.directory.resolve()
        full = (base / path).resolve()
        if not full.is_relative_to(base):
            raise ValueError(f"capture target {target!r} leaves the capture directory {base}")
        return full

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
