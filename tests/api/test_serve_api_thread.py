"""``closeloop serve`` runs the API in a thread beside the flows: it answers, and stops when told."""

from __future__ import annotations

import socket
import threading
import time

import httpx

from closeloop.cli.api import bind_api_socket, start_api_thread


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_api_thread_serves_and_stops(api):
    port = _free_port()
    before = set(threading.enumerate())
    server = start_api_thread(api.app, bind_api_socket("127.0.0.1", port))
    [thread] = [t for t in threading.enumerate() if t not in before and t.name == "closeloop-api"]
    url = f"http://127.0.0.1:{port}/api/v1/me"
    try:
        while not server.started and thread.is_alive():  # started, or failed and ended
            time.sleep(0.02)
        assert server.started
        assert httpx.get(url, timeout=None).status_code == 401
        r = httpx.get(url, headers=api.h("lead"), timeout=None)
        assert r.status_code == 200 and r.json()["role"] == "lead"
    finally:
        server.should_exit = True
    thread.join()  # uvicorn closes its sockets before run() returns
    assert _closed(port), "the server still answers after should_exit"


def _closed(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/api/v1/me", timeout=None)
        return False
    except httpx.HTTPError:
        return True
