"""``closeloop serve``: the scheduled flows, served by Prefect (no home-made scheduler).

Prefect's in-process temporary server runs no scheduler service (Prefect's runner
warns "Cannot schedule flows on an ephemeral server"), so without
``PREFECT_API_URL`` this starts a local ``prefect server start`` on 127.0.0.1 as a
child process (its own SQLite under ``PREFECT_HOME``) and serves against it; with
``PREFECT_API_URL`` set it uses that Prefect server. Stopping it pauses the
schedules; the next sweep catches up on whatever fell due meanwhile (timers are rows).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time


def deployments(config):
    """The deployments of ``deploy/prefect.yaml`` (see :mod:`flows.deployments`), ready for ``prefect.serve``.

    Warns on stderr when the cron schedules' zone is not the operations manager's calendar zone of ``config``.
    """
    from flows.deployments import cron_zones, load_specs, runner_deployments

    specs = load_specs()
    manager_zone = str(config.calendar(config.model.escalation.operations_manager.calendar).zone)
    other = cron_zones(specs) - {manager_zone}
    if other:
        print(f"warning: deploy/prefect.yaml schedules the digest and review in {', '.join(sorted(other))}; "
              f"the operations manager's calendar is in {manager_zone}", file=sys.stderr, flush=True)
    return runner_deployments(specs)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_local_server(timeout_s: float = 120.0) -> tuple[subprocess.Popen, str]:
    """Start ``prefect server start`` on a free loopback port; returns (process, API URL) once healthy."""
    import httpx

    port = _free_port()
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_API_URL": ""}
    proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                             "--port", str(port)], env=env)
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited with code {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    proc.terminate()
    raise RuntimeError(f"prefect server did not answer on {url} within {timeout_s:.0f} s")


def serve_all(config) -> None:  # pragma: no cover - runs until stopped
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect import serve
    from prefect.settings import PREFECT_API_URL, temporary_settings

    proc = None
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        proc, url = start_local_server()
        print(f"started a local Prefect server at {url.removesuffix('/api')} (UI there)", flush=True)
    try:
        with temporary_settings({PREFECT_API_URL: url}):
            serve(*deployments(config))
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
