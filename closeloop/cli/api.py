"""``closeloop tokens ...``, ``closeloop api`` and ``closeloop openapi``: access and the REST API."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from closeloop.bootstrap import App
from closeloop.cli.common import OUT_HELP, actor_name, get_app, out, out_file, stamp, startup_config, write_out
from closeloop.domain.errors import InvalidInput
from closeloop.logs import configure_logging
from closeloop.services.people import tokens as token_svc

tokens_app = typer.Typer(help="API tokens: create (prints the token alone), list, revoke.", no_args_is_help=True)


@tokens_app.command("create")
def tokens_create(role: str = typer.Option(..., "--role", help="member, lead, manager or admin"),
                  department: str | None = typer.Option(None, "--department", "-d",
                                                           help="required for member and lead"),
                  name: str | None = typer.Option(None, "--name",
                                                  help="who holds it (default: the --user's name, else role[@dept])"),
                  language: str | None = typer.Option(None, "--language",
                                                      help="en or zh (dashboard language; default: the --user's "
                                                           "language, else en)"),
                  user: str | None = typer.Option(None, "--user", help="the handle of the user it belongs to "
                                                                      "(`closeloop users add`)")) -> None:
    """Create a token and print it ALONE on standard output (TOKEN=$(closeloop tokens create ...)).

    Only its SHA-256 is stored: it cannot be shown again.
    """
    a = get_app()
    secret, info = token_svc.create_token(a.sessions, a.config, role=role, department=department,
                                          name=name,
                                          language=language, created_by=actor_name(None), at=a.clock.now(),
                                          user=user)
    print(secret)


@tokens_app.command("list")
def tokens_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every token: id, prefix, name, role, department, language, created, last used, revoked."""
    rows = token_svc.list_tokens(get_app().sessions)
    if as_json:
        print(json.dumps([{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in vars(r).items()}
                          for r in rows], indent=2))
        return
    t = Table()
    for col in ("id", "prefix", "name", "role", "department", "lang", "created (UTC)", "last used", "revoked"):
        t.add_column(col)
    for r in rows:
        t.add_row(str(r.id), r.prefix, escape(r.name), r.role, r.department or "-", r.language,
                  r.created_at.isoformat(timespec="seconds"),
                  r.last_used_at.isoformat(timespec="seconds") if r.last_used_at else "-",
                  r.revoked_at.isoformat(timespec="seconds") if r.revoked_at else "-")
    out.print(t)


@tokens_app.command("revoke")
def tokens_revoke(token_id: int = typer.Argument(..., help="the id from `tokens list`")) -> None:
    """Revoke a token: it no longer authenticates."""
    a = get_app()
    info = token_svc.revoke_token(a.sessions, token_id, at=a.clock.now())
    revoked = stamp(info.revoked_at) if info.revoked_at else "-"
    out.print(f"token {info.id} ({escape(info.name)}) revoked at {revoked}")


def api_server(app, host: str, port: int, log_level: str = "info"):
    """A uvicorn server for the REST API (and the dashboard, when present) around ``app``."""
    # deferred: the HTTP stack loads only for `closeloop api` and `closeloop openapi`
    import uvicorn

    # deferred: the HTTP stack loads only for `closeloop api` and `closeloop openapi`
    from closeloop.api.app import create_app

    # uvicorn's own access log (client addresses) is off: closeloop.api.observability logs each
    # request as JSON (route template, status, duration, ids); its other records go to the root logger
    return uvicorn.Server(uvicorn.Config(create_app(app), host=host, port=port, log_level=log_level,
                                         access_log=False, log_config=None))


def bind_api_socket(host: str, port: int, fields: tuple[str, str] = ("host", "port")) -> list[socket.socket]:
    """Listening sockets on ``host:port`` for the API, one per address the host resolves to (``localhost``: both
    ``127.0.0.1`` and ``::1``, as uvicorn binds), bound before anything else starts: uvicorn serves on them, so no
    other process can take the port in between. Raises ``InvalidInput`` naming the port's field (``fields``: the
    caller's names of the host and the port) when it is taken (another ``closeloop serve`` or ``closeloop api``,
    say), the host's when it names no usable address."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        raise InvalidInput(fields[0], f"{host!r} is not an address to listen on ({exc.strerror or exc})") from None
    bound: list[socket.socket] = []
    for family, kind, proto, _, address in dict.fromkeys((i[0], i[1], i[2], "", i[4]) for i in infos):
        sock = socket.socket(family, kind, proto)
        bound.append(sock)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:  # its own family only: 127.0.0.1 gets its own socket
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(2048)
        except OSError as exc:
            for s in bound:
                s.close()
            raise InvalidInput(fields[1], f"{_shown(address)} cannot be used ({exc.strerror or exc}): is another "
                                       "closeloop serve or api running? Stop it or choose another port") from None
        sock.set_inheritable(True)
    return bound


def _shown(address: tuple) -> str:
    """``host:port`` of a socket address, an IPv6 host in brackets."""
    return host_port(address[0], address[1])


def host_port(host: str, port: int) -> str:
    """``host:port`` as a URL writes it (RFC 3986: an IPv6 literal in brackets, ``[::1]:8000``)."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def run_api(app, socks: list[socket.socket], log_level: str = "info") -> None:
    """Serve the REST API with uvicorn on the bound ``socks`` (:func:`bind_api_socket`; blocks)."""
    host, port = socks[0].getsockname()[:2]
    api_server(app, host, port, log_level).run(sockets=socks)


def start_api_thread(app, socks: list[socket.socket]):
    """Serve the REST API on the bound ``socks`` in a daemon thread (``closeloop serve`` runs it beside the flows).

    Returns the uvicorn server; ``server.should_exit = True`` stops it."""
    host, port = socks[0].getsockname()[:2]
    server = api_server(app, host, port, "warning")
    threading.Thread(target=server.run, kwargs={"sockets": socks}, name="closeloop-api", daemon=True).start()
    return server


def api_cmd(host: str = typer.Option("127.0.0.1", "--host"), port: int = typer.Option(8000, "--port", min=1,
                                                                                       max=65535)) -> None:
    """Serve the REST API (/api/v1; OpenAPI at /api/v1/openapi.json, docs at /api/v1/docs)."""

    a = get_app()
    startup_config(a)
    sock = bind_api_socket(host, port)
    configure_logging(a.settings.log_format)
    out.print(f"closeloop API on http://{host_port(host, port)}/api/v1 "
              "(docs at /api/v1/docs; /healthz, /readyz, /metrics)")
    run_api(a, sock)


def openapi_document() -> str:
    """The OpenAPI document as committed in docs/openapi.json (sorted keys, 2-space indent)."""
    # deferred: the HTTP stack loads only for `closeloop api` and `closeloop openapi`
    from closeloop.api.app import create_app

    # the document does not depend on the database: build the app without connecting
    return json.dumps(create_app(App.__new__(App)).openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def openapi_cmd(out_path: Path | None = typer.Option(None, "--out", help=OUT_HELP)) -> None:
    """Print (or write) the OpenAPI document: `closeloop openapi --out docs/openapi.json` regenerates it."""
    text = openapi_document()
    target = out_file(out_path)
    if target is None:
        print(text, end="")
    else:
        write_out(target, text)
        out.print(f"wrote {target}")
