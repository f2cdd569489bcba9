"""Which sender a notification target goes to, and whether that sender understands it.

One rule for the input checks (users' ``notify`` in the API and the CLI, the configuration's notify fields)
and the delivery: :func:`channel_of` is how the outbox routes a target, :func:`target_problem` refuses a
target whose sender would dead-letter it at once (an Apprise URL that Apprise does not understand, such as
``ftp://x``: the :class:`~integrations.senders.apprise.AppriseSender` fails such a message without retrying).
"""

from __future__ import annotations

import posixpath
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit


def channel_of(target: str) -> str:
    """``"capture"`` (``capture://``), ``"webhook"`` (``http(s)://``), ``"email"`` (an address without a
    scheme) or ``"apprise"`` (every other URL)."""
    t = target.lower()
    if t.startswith("capture://"):
        return "capture"
    if t.startswith(("http://", "https://")):
        return "webhook"
    if "://" not in t and "@" in t:
        return "email"  # a user's own e-mail address (issue 14): integrations/smtp.py
    return "apprise"


def apprise_understands(url: str) -> bool:
    """Whether Apprise accepts ``url`` (``Apprise().add``, the call the Apprise sender makes before it sends).
    True when Apprise is not installed (nothing to check against: the deliver flow reports the missing sender)."""
    try:
        import apprise  # noqa: PLC0415 - deferred: loads its plugins (about 0.5 s), only for an Apprise target
    except ImportError:  # pragma: no cover - apprise is a dependency
        return True
    return bool(apprise.Apprise().add(url))


def capture_path(target: str) -> PurePosixPath:
    """The file a ``capture://`` target names: a relative path under the capture directory (``capture://name``;
    ``.jsonl`` added when it has no suffix) or an absolute one (``capture:///abs/path``). Raises ``ValueError``
    (a sentence) for another scheme, a relative path without a name, or a name climbing out of the directory
    (``capture://../x``); the capture sender also refuses a symbolic link leading out."""
    parts = urlsplit(target)
    if parts.scheme != "capture":
        raise ValueError(f"capture target must start with capture://, got {target!r}")
    if parts.netloc:
        path = PurePosixPath(unquote(parts.netloc + parts.path))
        if not path.suffix:
            path = path.with_suffix(".jsonl")
        inside = posixpath.normpath(posixpath.join("/capture", str(path)))
        if path.is_absolute() or not inside.startswith("/capture/"):
            raise ValueError(f"capture target {target!r} leaves the capture directory")
        return path
    path = PurePosixPath(unquote(parts.path))
    if not path.is_absolute():
        raise ValueError(f"capture target {target!r}: use capture:///absolute/path or capture://name")
    return path


def target_problem(target: str) -> str | None:
    """None when the sender :func:`channel_of` picks for ``target`` (a non-empty target) can send to it, else
    why not (a sentence): surrounding blanks, a webhook URL without a host, a capture path leaving the capture
    directory (:func:`capture_path`), an Apprise URL Apprise does not understand."""
    if target != target.strip():
        return "surrounding blanks are not part of a target"
    channel = channel_of(target)
    if channel == "capture":
        try:
            capture_path(target)
        except ValueError as exc:
            return str(exc)
    if channel == "webhook":
        try:
            host = urlsplit(target).hostname
        except ValueError as exc:
            return f"not a valid URL: {exc}"
        if not host:
            return "the URL has no host"
    if channel == "apprise" and not apprise_understands(target):
        scheme = target.split("://", 1)[0] if "://" in target else target
        return (f"Apprise does not understand the target URL (scheme {scheme!r}); use https://... (webhook), "
                "capture://file.jsonl, an e-mail address, or an Apprise URL such as slack://, wecombot://, "
                "dingtalk://, feishu://, mailto://")
    return None
