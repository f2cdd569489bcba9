"""``closeloop serve`` serves against the Prefect server it started, never another one that answers on the port
(a shared machine: another Prefect server took the port between the free-port check and the start, or was already
answering there), and its stop reports a failed pause of the schedules in one line, not a traceback.

A real local Prefect server is started (as tests/integration/test_zombie_detection.py does); the port it is told
to use is held by another HTTP server that answers ``/api/health`` 200 and even shows a closeloop server id.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from flows import serve as serve_mod
from flows.serve import SERVER_ID_HEADER, _server_id, start_local_server, stop_local_server


class _OtherServer(BaseHTTPRequestHandler):
    """Somebody else's server: 200 to every GET (its /api/health, its /api/admin/settings with its own id)."""

    def do_GET(self):  # noqa: N802 - the http.server hook's name
        self.server.paths.append(self.path)  # type: ignore[attr-defined]
        body = json.dumps({"client": {"custom_headers": {SERVER_ID_HEADER: "somebody-else"}}}
                          if self.path.endswith("/admin/settings") else True).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def other_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _OtherServer)
    httpd.paths = []  # type: ignore[attr-defined]
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def started(other_server, tmp_path_factory):
    """start_local_server told the other server's port: (process, API URL, the other server's port)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("PREFECT_HOME", str(tmp_path_factory.mktemp("prefect")))
    mp.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    mp.delenv("PREFECT_API_URL", raising=False)
    taken = other_server.server_address[1]
    proc, url = start_local_server(timeout_s=240, port=taken)
    try:
        yield proc, url, taken
    finally:
        stop_local_server(proc)
        mp.undo()


def test_serve_does_not_take_another_server_on_its_port_for_its_own(started, other_server):
    proc, url, taken = started
    assert f":{taken}/" not in url, "the other server's port was reported as the local Prefect server's"
    assert other_server.paths, "the other server was never asked (the test did not exercise the race)"
    assert proc.poll() is None
    assert _server_id(url) not in (None, "", "somebody-else")  # the one started answers on the URL returned


def test_a_port_that_stays_taken_is_one_clear_error(other_server, tmp_path, monkeypatch):
    """No port works (every attempt finds its port taken): an error naming the ports, the other never used."""
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    taken = other_server.server_address[1]
    monkeypatch.setattr(serve_mod, "_free_port", lambda preferred=4200: taken)
    with pytest.raises(RuntimeError, match=f"ports {taken}, {taken} were taken by other servers"):
        start_local_server(timeout_s=120, port=taken, attempts=2)


class _Served:
    def __init__(self, full_name: str):
        self.full_name = full_name
        self.name = full_name.split("/")[1]


def test_a_failed_pause_on_stop_is_one_line_not_a_traceback(started, monkeypatch, capsys):
    """The deployments are not on the Prefect server (the tester's case: they had gone to another server):
    Prefect's own pause on shutdown raised ObjectNotFound out of serve; now one warning line."""
    import prefect
    from prefect.exceptions import ObjectNotFound

    import flows.automations

    _, url, _ = started
    calls = []

    def fake_serve(*served, pause_on_shutdown=True, **kwargs):  # Prefect's serve, as its runner stops
        calls.append(served)
        if pause_on_shutdown:
            raise ObjectNotFound(http_exc=Exception("404 deployment not found"))

    monkeypatch.setenv("PREFECT_API_URL", url)
    monkeypatch.setattr(prefect, "serve", fake_serve)
    monkeypatch.setattr(flows.automations, "apply_automations", lambda url: {})
    monkeypatch.setattr(serve_mod, "deployments", lambda config: [_Served("sweep/sweep"), _Served("deliver/deliver")])
    serve_mod.serve_all(None)
    out = capsys.readouterr()
    assert calls
    warning = [line for line in out.err.splitlines() if "schedules not paused" in line]
    assert warning == ["warning: schedules not paused: sweep/sweep (not on the server), deliver/deliver "
                       "(not on the server); pause them in the Prefect UI if they should not run while closeloop "
                       "serve is stopped"], out.err
    assert "stopped" in out.out
