"""How two webhook targets are compared: a ``[webhooks.*]`` url of the configuration and an outbox row's target
(per-target signing secrets). Standard library only: the configuration, which the services import, uses it, and
the services may not import httpx; the normalisation is the one httpx's ``URL`` applies to scheme, host and port
(a test checks the two agree)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

#: the port a scheme means when a URL names none
DEFAULT_PORTS = {"http": 80, "https": 443}


def webhook_key(target: str) -> str:
    """The form in which two webhook targets are compared (a ``[webhooks.*]`` url and an outbox row's target):
    the scheme and host lower-cased (a non-ASCII host in its IDNA form) and a default port dropped
    (``HTTP://Example.com:80/hook`` is ``http://example.com/hook``), as httpx's ``URL`` normalises them. The path,
    query and fragment stay as written: ``/hook``, ``//hook`` and ``/hook/`` are different resources to a server.
    An empty path is ``/`` (what an HTTP request for it asks; RFC 9110 §4.2.3). A target that does not parse is
    returned stripped of surrounding blanks, unchanged otherwise."""
    t = target.strip()
    try:
        parts = urlsplit(t)
        host, port = parts.hostname, parts.port
        if host and not host.isascii():
            host = host.encode("idna").decode("ascii")
    except (ValueError, UnicodeError):
        return t
    if not host:
        return t
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (f"{userinfo}@" if userinfo else "") + host
    if port is not None and port != DEFAULT_PORTS.get(parts.scheme):
        netloc += f":{port}"
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, parts.fragment))
