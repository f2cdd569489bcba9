"""``closeloop serve`` and ``closeloop api`` refuse to start beside another one: a taken API port, or another serve
on the same ``PREFECT_HOME`` (whose stop would pause this one's schedules), is one error line, exit 2, and
nothing is started."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from closeloop.cli import app
from closeloop.cli.api import bind_api_socket
from closeloop.domain.errors import InvalidInput
from flows.serve import serve_lock

runner = CliRunner()


@pytest.fixture
def busy_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield s.getsockname()[1]


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'serve.db'}")
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    return tmp_path


def test_a_taken_port_is_refused_naming_it(busy_port):
    with pytest.raises(InvalidInput) as refused:
        bind_api_socket("127.0.0.1", busy_port)
    assert refused.value.field == "port" and f"127.0.0.1:{busy_port} cannot be used" in refused.value.problem
    (sock,) = bind_api_socket("127.0.0.1", 0)  # a free one binds and listens
    try:
        with socket.create_connection(sock.getsockname()[:2], timeout=5):
            pass
    finally:
        sock.close()


def test_a_name_with_several_addresses_is_served_on_each():
    """``localhost`` resolves to 127.0.0.1 and, where the hosts file says so, ::1: each gets a socket (uvicorn's
    own binding did so; the first address alone shut IPv4 clients out where ::1 came first)."""
    infos = {i[4][0] for i in socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)}
    with socket.socket() as probe:  # a port free on 127.0.0.1, likely free on ::1 too
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    socks = bind_api_socket("localhost", port)
    try:
        assert {s.getsockname()[0] for s in socks} == infos
        for s in socks:
            with socket.create_connection(s.getsockname()[:2], timeout=5):
                pass
    finally:
        for s in socks:
            s.close()


@pytest.mark.parametrize("args", [["api", "--port"], ["serve", "--api-port"]])
def test_api_and_serve_on_a_taken_port_stop_with_one_line_and_start_nothing(cli_env, busy_port, args):
    res = runner.invoke(app, [*args, str(busy_port)])
    assert res.exit_code == 2, res.output
    assert f"error: {args[1]}: 127.0.0.1:{busy_port} cannot be used" in res.output  # the option as typed
    assert "API on" not in res.output and "serving the deployments" not in res.output
    assert not (cli_env / "prefect" / "closeloop-server.log").exists()  # no Prefect server was started


def test_one_serve_per_prefect_home(cli_env):
    with serve_lock():
        res = runner.invoke(app, ["serve", "--no-api"])
        with pytest.raises(InvalidInput, match=r"another closeloop serve \(pid \d+\) is running"):
            with serve_lock():
                pass
    assert res.exit_code == 2, res.output
    assert "error: PREFECT_HOME: another closeloop serve" in res.output
    assert not (cli_env / "prefect" / "closeloop-server.log").exists()
    with serve_lock():  # released when the first one ended
        pass


def test_the_lock_follows_prefect_home_as_prefect_reads_it(tmp_path, monkeypatch):
    """``PREFECT_HOME='~/ph'``: Prefect expands the ``~``; the lock did not, so two serves started from two
    directories each took a lock of their own under a literal ``~`` folder."""
    from flows.serve import serve_lock_path

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PREFECT_HOME", "~/ph")
    assert serve_lock_path() == tmp_path / "ph" / "closeloop-serve.lock"


@pytest.mark.parametrize(("host", "shown"), [("127.0.0.1", "127.0.0.1:8000"), ("::1", "[::1]:8000"),
                                              ("localhost", "localhost:8000"), ("[::]", "[::]:8000")])
def test_the_api_line_writes_an_ipv6_host_in_brackets(host, shown):
    """The "API on http://..." line must be a URL a person can paste (RFC 3986 brackets an IPv6 literal)."""
    from closeloop.cli.api import host_port

    assert host_port(host, 8000) == shown
