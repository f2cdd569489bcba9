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
    """The four deployments with their schedules (see ``flows/schedules.py``)."""
    from prefect.schedules import Cron, Interval

    from flows.deliver import deliver_outbox
    from flows.digest import overdue_digest_flow
    from flows.review import monthly_review_flow
    from flows.sweep import sweep_flow

    from .schedules import (
        DELIVER_INTERVAL_SECONDS, MONTHLY_REVIEW_CRON, OVERDUE_DIGEST_INTERVAL_SECONDS, SWEEP_INTERVAL_SECONDS,
    )

    review_zone = str(config.customer_calendar.zone)  # the zone whose months the review reports
    return [
        sweep_flow.to_deployment("sweep", schedules=[Interval(SWEEP_INTERVAL_SECONDS)], tags=["closeloop", "sweep"],
                                 concurrency_limit=1),
        deliver_outbox.to_deployment("deliver", schedules=[Interval(DELIVER_INTERVAL_SECONDS)],
                                     tags=["closeloop", "deliver"]),
        overdue_digest_flow.to_deployment("overdue-digest",
                                          schedules=[Interval(OVERDUE_DIGEST_INTERVAL_SECONDS)],
                                          tags=["closeloop", "digest"]),
        monthly_review_flow.to_deployment("monthly-review",
                                          schedules=[Cron(MONTHLY_REVIEW_CRON, timezone=review_zone)],
                                          tags=["closeloop", "review"]),
    ]


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
