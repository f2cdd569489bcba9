"""``closeloop serve`` runs the API in a thread beside the flows: it answers, and stops when told."""

from __future__ import annotations

import socket
import time

import httpx

from closeloop.cli_api import start_api_thread


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_api_thread_serves_and_stops(api):
    port = _free_port()
    server = start_api_thread(api.app, "127.0.0.1", port)
    url = f"http://127.0.0.1:{port}/api/v1/me"
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.05)
        assert server.started
        assert httpx.get(url, timeout=5).status_code == 401
        r = httpx.get(url, headers=api.h("lead"), timeout=5)
        assert r.status_code == 200 and r.json()["role"] == "lead"
    finally:
        server.should_exit = True
    for _ in range(100):
        if _closed(port):
            break
        time.sleep(0.05)
    assert _closed(port), "the server still answers after should_exit"


def _closed(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/api/v1/me", timeout=0.5)
        return False
    except httpx.HTTPError:
        return True
