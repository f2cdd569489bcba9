"""E-mail to customers written to a local Maildir instead of a relay: trials, demos and staging.

Chosen with ``CLOSELOOP_SMTP_URL=maildir://out/mail`` (a directory relative to the working directory) or
``maildir:///var/mail/closeloop`` (an absolute one). Each outbox row of channel ``email`` becomes one file in
the Maildir's ``new/`` folder, the same MIME message the SMTP sender hands to a relay
(:func:`integrations.smtp.build_email`), readable by any mail client (``mutt -f out/mail``) or Python's
``mailbox.Maildir``. Nothing leaves the machine, and nothing is dropped silently: the mail is on disk, and
the setting has to be chosen by name (an empty ``CLOSELOOP_SMTP_URL`` still dead-letters e-mail, which
raises an operations alert).

Delivery follows the Maildir protocol (https://cr.yp.to/proto/maildir.html): the file is written in
``tmp/`` and renamed into ``new/``, so a reader never sees half a message. The file is named by the row's
idempotency key, recipient and text (SHA-256), so a resend of the same row (an ``unknown`` outcome, a worker
killed after the write) finds its file and writes no second copy. A filesystem error is ``retry``.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from pathlib import Path

from integrations.outbound import OutgoingMessage, SendResult
from integrations.smtp import build_email, refuse_non_address

__all__ = ["MaildirSender", "maildir_path"]

SCHEME = "maildir://"


def maildir_path(url: str) -> Path:
    """The directory of a ``maildir://`` URL: ``maildir://out/mail`` -> ``out/mail`` (relative to the working
    directory), ``maildir:///var/mail/x`` -> ``/var/mail/x``. Raises ``ValueError`` naming
    ``CLOSELOOP_SMTP_URL`` for another scheme or no path."""
    if not url.startswith(SCHEME):
        raise ValueError(f"CLOSELOOP_SMTP_URL must start with {SCHEME} for a local Maildir, got {url!r}")
    rest = url[len(SCHEME):]
    if not rest.strip("/"):
        raise ValueError("CLOSELOOP_SMTP_URL: maildir:// needs a directory (maildir://out/mail)")
    return Path(rest).expanduser()


class MaildirSender:
    """Writes each e-mail row to the Maildir ``directory`` (created with its parents and its ``tmp``/``new``/``cur``
    folders on first use), From ``sender``. Never raises for a delivery problem."""

    def __init__(self, directory: str | os.PathLike, sender: str):
        self.directory = Path(directory)
        self.sender = sender

    def file_name(self, msg: OutgoingMessage) -> str:
        """The message's file name in ``new/`` (and ``cur/`` once a client has seen it: ``name:2,S``): a hash of
        the row's idempotency key, recipient, subject and body, so a resend of the row finds its file while a
        different mail under a reused key (a trial database made again beside an old Maildir) gets its own."""
        digest = hashlib.sha256("\0".join((msg.idempotency_key, msg.target, msg.subject, msg.body)).encode("utf-8"))
        return "closeloop-" + digest.hexdigest()[:40]

    def _write(self, msg: OutgoingMessage) -> SendResult:
        name = self.file_name(msg)
        try:
            for sub in ("tmp", "new", "cur"):  # parents too; safe when several writers create them at once
                (self.directory / sub).mkdir(parents=True, exist_ok=True)
            if (self.directory / "new" / name).exists() or any((self.directory / "cur").glob(name + ":*")):
                return SendResult("delivered")  # a resend of a row already written
            data = build_email(msg, self.sender).as_bytes()
            # unique per writer (the Maildir protocol's time.pid.host, plus the thread): two writers of one row
            # never share a staging file; each renames a whole copy into place
            staging = self.directory / "tmp" / f"{time.time_ns()}.{os.getpid()}_{threading.get_ident()}.{name}"
            with open(staging, "xb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(staging, self.directory / "new" / name)
        except OSError as exc:
            return SendResult("retry", error=f"Maildir write to {self.directory} failed: {exc.strerror or exc}")
        return SendResult("delivered")

    async def send(self, msg: OutgoingMessage) -> SendResult:
        refused = refuse_non_address(msg)
        if refused is not None:
            return refused
        return await asyncio.to_thread(self._write, msg)
