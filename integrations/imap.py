"""An IMAP mailbox as a source of inbound e-mail (standard library ``imaplib``).

``CLOSELOOP_IMAP_URL``::

    imap://user:password@host:143/INBOX                  STARTTLS (always with a login), then LOGIN
    imap://user:password@host:143/INBOX?starttls=false   plain text: only for a server on loopback
    imaps://user:password@host:993/INBOX                 implicit TLS

Messages are fetched with ``BODY.PEEK[]`` (fetching does not set ``\\Seen``); :meth:`ImapMailbox.mark_seen`
sets it once the caller has committed. Error messages name the server's answer, never the password.
"""

from __future__ import annotations

import imaplib
import re
import ssl
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["ImapError", "ImapMailbox", "ImapUrl"]

_UID = re.compile(rb"UID (\d+)")


class ImapError(RuntimeError):
    """The server refused a command (the message names the command and the answer)."""


@dataclass(frozen=True)
class ImapUrl:
    host: str
    port: int
    username: str
    password: str
    mailbox: str = "INBOX"
    implicit_tls: bool = False
    starttls: bool = True

    @classmethod
    def from_url(cls, url: str) -> ImapUrl:
        """Raises ``ValueError`` naming the setting and the problem (the password is never echoed)."""
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps"):
            raise ValueError("CLOSELOOP_IMAP_URL must start with imap:// or imaps://")
        if not parts.hostname:
            raise ValueError("CLOSELOOP_IMAP_URL has no host")
        if not parts.username:
            raise ValueError("CLOSELOOP_IMAP_URL has no user (imap://user:password@host/INBOX)")
        query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        implicit = parts.scheme == "imaps"
        starttls = not implicit and query.get("starttls") not in ("0", "false", "no")
        return cls(parts.hostname, parts.port or (993 if implicit else 143), unquote(parts.username),
                   unquote(parts.password or ""), unquote(parts.path.lstrip("/")) or "INBOX", implicit, starttls)


class ImapMailbox:
    """One session on one mailbox; a context manager (connects, logs in, selects; logs out on exit)."""

    def __init__(self, url: ImapUrl | str, timeout_s: float = 30.0):
        self.url = ImapUrl.from_url(url) if isinstance(url, str) else url
        self.timeout_s = timeout_s
        self._client: imaplib.IMAP4 | None = None

    def __enter__(self) -> ImapMailbox:
        u = self.url
        if u.implicit_tls:
            client: imaplib.IMAP4 = imaplib.IMAP4_SSL(u.host, u.port, ssl_context=ssl.create_default_context(),
                                                      timeout=self.timeout_s)
        else:
            client = imaplib.IMAP4(u.host, u.port, timeout=self.timeout_s)
            if u.starttls:
                client.starttls(ssl_context=ssl.create_default_context())
        self._client = client
        try:
            self._ok("LOGIN", client.login(u.username, u.password))
            self._ok("SELECT", client.select(_quote(u.mailbox)))
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._close()

    def _close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if client.state == "SELECTED":
                client.close()
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            pass

    @property
    def client(self) -> imaplib.IMAP4:
        if self._client is None:
            raise ImapError("the mailbox is not open (use it as a context manager)")
        return self._client

    @staticmethod
    def _ok(command: str, answer: tuple) -> list:
        typ, data = answer
        if typ != "OK":
            text = b" ".join(d for d in data if isinstance(d, bytes)).decode("ascii", "replace")[:200]
            raise ImapError(f"IMAP {command} answered {typ}: {text}")
        return data

    def unseen(self) -> list[str]:
        data = self._ok("UID SEARCH", self.client.uid("SEARCH", "UNSEEN"))
        return [u.decode("ascii") for u in (data[0] or b"").split()]

    def fetch(self, uids: list[str]) -> list[tuple[str, bytes]]:
        if not uids:
            return []
        data = self._ok("UID FETCH", self.client.uid("FETCH", ",".join(uids), "(UID BODY.PEEK[])"))
        out = []
        for item in data:
            if isinstance(item, tuple) and len(item) == 2 and (m := _UID.search(item[0])):
                out.append((m.group(1).decode("ascii"), item[1]))
        return out

    def mark_seen(self, uids: list[str]) -> None:
        if uids:
            self._ok("UID STORE", self.client.uid("STORE", ",".join(uids), "+FLAGS.SILENT", r"(\Seen)"))

    def append(self, raw: bytes) -> None:
        """Put a message into the mailbox (tests, the benchmark)."""
        self._ok("APPEND", self.client.append(_quote(self.url.mailbox), "", None, raw))


def _quote(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'
