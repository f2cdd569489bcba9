"""``closeloop serve``, the embedded default, as a newcomer meets it: a real local Prefect server whose UI is
told its real API address, the deployments of deploy/prefect.yaml on it, and a clean stop on the first Ctrl-C.

Ctrl-C is simulated as a terminal sends it: SIGINT to the whole foreground process group.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from flows.deployments import load_specs
from models import migrate
from models.db import make_engine

ROOT = Path(__file__).resolve().parents[2]
STARTUP_BOUND_S = 240  # a fresh Prefect home migrates its SQLite first; slow on a loaded 2-core machine
STOP_BOUND_S = 60      # a hang guard (the bug was 3 minutes and a second signal): pausing the schedules and
                       # stopping the server take about 5 s here; one run under a loaded suite took over 30 s


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Output:
    def __init__(self, proc: subprocess.Popen):
        self.lines: list[str] = []
        threading.Thread(target=self._read, args=(proc,), daemon=True).start()

    def _read(self, proc):
        for line in proc.stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)


def test_serve_opens_a_working_ui_and_stops_on_the_first_ctrl_c(tmp_path):
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    env = {**os.environ, "CLOSELOOP_DATABASE_URL": url, "PREFECT_HOME": str(tmp_path / "prefect"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "CLOSELOOP_CAPTURE_DIR": str(tmp_path / "capture")}
    env.pop("PREFECT_API_URL", None)
    api_port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "closeloop.cli", "serve", "--api-port", str(api_port)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    out = _Output(proc)
    try:
        deadline = time.monotonic() + STARTUP_BOUND_S
        while "UI at" not in out.text and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        match = re.search(r"UI at (http://127\.0\.0\.1:(\d+))", out.text)
        assert match, f"no UI address announced:\n{out.text[-3000:]}"
        ui, port = match.group(1), match.group(2)
        settings = httpx.get(f"{ui}/ui-settings", timeout=10).json()
        assert settings["api_url"] == f"http://127.0.0.1:{port}/api"  # not the default 4200 unless it is 4200
        names = set()
        while time.monotonic() < deadline and names != {s.name for s in load_specs()}:
            r = httpx.post(f"{ui}/api/deployments/filter", json={"limit": 50}, timeout=10)
            names = {d["name"] for d in r.json()}
            time.sleep(1)
        assert names == {s.name for s in load_specs()}
        assert httpx.get(f"http://127.0.0.1:{api_port}/readyz", timeout=10).json()["status"] == "ready"
        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # one Ctrl-C
        try:
            proc.wait(timeout=STOP_BOUND_S)
        except subprocess.TimeoutExpired:
            tail = out.text[-4000:]
            raise AssertionError(f"serve still running {STOP_BOUND_S} s after one Ctrl-C:\n{tail}") from None
        stopped_after = time.monotonic() - started
        print(f"serve stopped {stopped_after:.1f} s after one Ctrl-C")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    time.sleep(0.5)
    text = out.text
    assert "Traceback" not in text, text[-4000:]
    assert proc.returncode in (0, 130), text[-2000:]
    assert stopped_after < STOP_BOUND_S
    with pytest.raises(httpx.HTTPError):  # the local Prefect server went with it
        httpx.get(f"{ui}/api/health", timeout=3)
