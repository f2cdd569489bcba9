"""``closeloop serve``: the scheduled flows, served by Prefect (no home-made scheduler).

Prefect's in-process temporary server runs no scheduler service (Prefect's runner
warns "Cannot schedule flows on an ephemeral server"), so without
``PREFECT_API_URL`` this starts a local ``prefect server start`` on 127.0.0.1 as a
child process (its own SQLite under ``PREFECT_HOME``) and serves against it; with
``PREFECT_API_URL`` set it uses that Prefect server. Stopping it pauses the
schedules; the next sweep catches up on whatever fell due meanwhile (timers are rows).
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from closeloop.domain.errors import InvalidInput


def deployments(config):
    """The deployments of ``deploy/prefect.yaml`` (see :mod:`flows.deployments`), ready for ``prefect.serve``.

    The monthly review's cron runs in the zone of the calendar whose months it reports (the customer
    calendar of ``config``; K14, issue 12), whatever zone the file names: a review run in a zone east of
    the customers' would publish the month before. Warns on stderr when the file names another zone
    (``prefect deploy`` reads the file as it is).
    """

    # deferred: Prefect's server settings are set before Prefect's modules load
    from flows.deployments import load_specs, runner_deployments

    review_zone = str(config.customer_calendar.zone)
    specs = []
    for spec in load_specs():
        if spec.name == "monthly-review":
            named = {s.get("timezone") or "UTC" for s in spec.schedules if "cron" in s}
            if named - {review_zone}:
                print(f"warning: deploy/prefect.yaml runs the monthly review in {', '.join(sorted(named))}; "
                      f"serve uses the customer calendar's zone {review_zone}", file=sys.stderr, flush=True)
            spec = replace(spec, schedules=tuple({**s, "timezone": review_zone} if "cron" in s else s
                                                 for s in spec.schedules))
        specs.append(spec)
    return runner_deployments(specs)


def _free_port(preferred: int = 4200) -> int:
    """``preferred`` (Prefect's usual port) when it is free on 127.0.0.1, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port on 127.0.0.1")  # pragma: no cover - port 0 always binds


def server_env(port: int) -> dict[str, str]:
    """The environment of the local Prefect server: its API and UI told the real port (not 4200)."""
    api = f"http://127.0.0.1:{port}/api"
    return {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_API_URL": "",
            "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
            "PREFECT_UI_API_URL": api, "PREFECT_UI_URL": api.removesuffix("/api")}


def prefect_home() -> Path:
    """Prefect's home directory as Prefect reads it: ``PREFECT_HOME`` with ``~`` expanded, else ``~/.prefect``
    (read from the environment: Prefect's own settings are not imported before the server's are set)."""
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


def server_log_path() -> Path:
    """Where the local Prefect server's output goes: ``$PREFECT_HOME/closeloop-server.log``."""
    return prefect_home() / "closeloop-server.log"


def start_local_server(timeout_s: float = 120.0, port: int | None = None) -> tuple[subprocess.Popen, str]:
    """Start ``prefect server start`` on 127.0.0.1 (``port``, default 4200 if free); returns (process, API URL)
    once healthy.

    The server runs in its own session: a Ctrl-C in the terminal reaches ``closeloop serve`` only, which
    pauses its schedules through the still-running server and then stops it (:func:`stop_local_server`).
    """
    # deferred: Prefect's server settings are set before Prefect's modules load
    import httpx

    port = port or _free_port()
    log_path = server_log_path()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                 "--port", str(port)], env=server_env(port), start_new_session=True,
                                stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server exited with code {proc.returncode}: "
                               f"{log_path.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2.0).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop_local_server(proc)
    raise RuntimeError(f"prefect server did not answer on {url} within {timeout_s:.0f} s")


def stop_local_server(proc: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGTERM the server's process group, SIGKILL it after ``grace_s`` seconds; returns once no process of the
    group is left running (``prefect server start`` runs its web server as a child process, which may still
    answer for a moment after the parent has exited), or after the SIGKILL's 5 s."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        if not _group_running(proc):
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _group_running(proc):
            time.sleep(0.1)


def _group_running(proc: subprocess.Popen) -> bool:
    """Whether the leader ``proc`` or any process of its process group (the session it started) still runs;
    zombies, which answer nothing, do not count. Linux's ``/proc`` is read; elsewhere a signal 0 to the group."""
    proc.poll()  # reaps the leader once it has exited
    proc_dir = Path("/proc")
    if not proc_dir.is_dir():
        try:
            os.killpg(proc.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for stat in proc_dir.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii", errors="replace").rsplit(")", 1)[1].split()
        except OSError:
            continue
        if len(fields) > 2 and fields[2] == str(proc.pid) and fields[0] != "Z":
            return True
    return False


def serve_lock_path() -> Path:
    """The lock one ``closeloop serve`` holds: ``$PREFECT_HOME/closeloop-serve.lock``."""
    return prefect_home() / "closeloop-serve.lock"


@contextmanager
def serve_lock() -> Iterator[None]:
    """Hold :func:`serve_lock_path` (an exclusive ``flock``, released when the process ends, even killed) while
    one ``closeloop serve`` runs. Two serves on one ``PREFECT_HOME`` share the local Prefect server's database
    and its deployments: stopping either pauses the other's schedules. Raises ``InvalidInput`` naming
    ``PREFECT_HOME`` (and the pid holding the lock) when another serve holds it."""
    path = serve_lock_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise InvalidInput("PREFECT_HOME", f"another closeloop serve (pid {holder}) is running with "
                                               f"{path.parent}; stop it first, or give this one its own "
                                               "PREFECT_HOME") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def serve_all(config) -> None:  # pragma: no cover - runs until stopped (tests/integration/test_serve.py)
    """Serve the deployments until SIGINT/SIGTERM; then pause their schedules and stop the local server."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # deferred: Prefect's server settings are set before Prefect's modules load
    from prefect import serve
    from prefect.settings import PREFECT_API_URL, temporary_settings

    # deferred: Prefect's server settings are set before Prefect's modules load
    from flows.automations import apply_automations, heartbeat_env

    for key, value in heartbeat_env().items():  # the heartbeat of the work pool's runs, for the served runs too
        os.environ.setdefault(key, value)
    proc = None
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        proc, url = start_local_server()
        print(f"started a local Prefect server: UI at {url.removesuffix('/api')} (its log: {server_log_path()})",
              flush=True)
    try:
        try:  # zombie detection (deploy/automations.yaml), idempotent; serving goes on without it
            applied = apply_automations(url)
            print("automations: " + ", ".join(f"{name} {what}" for name, what in applied.items()), flush=True)
        except Exception as exc:  # noqa: BLE001 - reported, not fatal: correctness never depended on it
            print(f"warning: automations not applied ({type(exc).__name__}: {exc}); run `closeloop automations`",
                  file=sys.stderr, flush=True)
        with temporary_settings({PREFECT_API_URL: url}):
            serve(*deployments(config), print_starting_message=False)
    finally:
        if proc is not None:
            stop_local_server(proc)
        print("stopped", flush=True)
