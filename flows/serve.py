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
import json
import os
import secrets
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


#: the header our local Prefect server is told to send (``PREFECT_CLIENT_CUSTOM_HEADERS``) with a value only this
#: start knows; Prefect's ``GET /api/admin/settings`` shows it back, telling our server from another on the port
SERVER_ID_HEADER = "X-Closeloop-Serve"


def server_env(port: int, server_id: str = "") -> dict[str, str]:
    """The environment of the local Prefect server: its API and UI told the real port (not 4200), and
    ``server_id`` (when given) added to the custom headers of Prefect's settings under :data:`SERVER_ID_HEADER`
    (the other headers of ``PREFECT_CLIENT_CUSTOM_HEADERS`` kept)."""
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_API_URL": "",
           "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
           "PREFECT_UI_API_URL": api, "PREFECT_UI_URL": api.removesuffix("/api")}
    if server_id:
        try:
            headers = json.loads(env.get("PREFECT_CLIENT_CUSTOM_HEADERS") or "{}")
        except ValueError:
            headers = {}
        headers = headers if isinstance(headers, dict) else {}
        env["PREFECT_CLIENT_CUSTOM_HEADERS"] = json.dumps({**headers, SERVER_ID_HEADER: server_id})
    return env


def prefect_home() -> Path:
    """Prefect's home directory as Prefect reads it: ``PREFECT_HOME`` with ``~`` expanded, else ``~/.prefect``
    (read from the environment: Prefect's own settings are not imported before the server's are set)."""
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


def server_log_path() -> Path:
    """Where the local Prefect server's output goes: ``$PREFECT_HOME/closeloop-server.log``."""
    return prefect_home() / "closeloop-server.log"


def start_local_server(timeout_s: float = 120.0, port: int | None = None,
                       attempts: int = 3) -> tuple[subprocess.Popen, str]:
    """Start ``prefect server start`` on 127.0.0.1 (``port``, default 4200 if free); returns (process, API URL)
    once the server answering on that port is the one started here (:func:`_launch`; never another Prefect
    server that took the port, or was already answering on it).

    When the port was taken (another process bound it first), tries again on another free port, ``attempts``
    times in all, within ``timeout_s`` seconds in all. Raises ``RuntimeError`` (naming the port, with the tail of
    the server's log) when the server exits otherwise, or does not answer in time.

    The server runs in its own session: a Ctrl-C in the terminal reaches ``closeloop serve`` only, which
    pauses its schedules through the still-running server and then stops it (:func:`stop_local_server`).
    """
    deadline = time.monotonic() + timeout_s
    tried: list[int] = []
    for attempt in range(attempts):
        port = port if attempt == 0 and port else _free_port(4200 if attempt == 0 else 0)
        started = _launch(port, deadline)
        if started is not None:
            return started
        tried.append(port)
        print(f"port {port} was taken by another server before the local Prefect server could listen on it; "
              "trying another port", file=sys.stderr, flush=True)
    raise RuntimeError(f"the local Prefect server could not listen on 127.0.0.1: ports "
                       f"{', '.join(map(str, tried))} were taken by other servers")


def _launch(port: int, deadline: float) -> tuple[subprocess.Popen, str] | None:
    """One ``prefect server start`` on ``port``, told a fresh random id (:func:`server_env`); (process, API URL)
    once ``GET /api/admin/settings`` on the port shows that id, ``None`` when the process exited because the
    port was taken (its log says "already in use", or the port is bound). Raises ``RuntimeError`` when it exited
    otherwise, or at ``deadline`` (``time.monotonic()`` seconds; the process is stopped then)."""
    server_id = secrets.token_hex(16)
    log_path = server_log_path()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        offset = log.tell()
        proc = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                                 "--port", str(port)], env=server_env(port, server_id), start_new_session=True,
                                stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api"
    foreign = False  # another server answered on the port
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(log_path, "rb") as log:
                log.seek(offset)
                tail = log.read().decode(errors="replace")
            if "already in use" in tail.lower() or foreign or not _port_free(port):
                return None
            raise RuntimeError(f"prefect server exited with code {proc.returncode}: {tail[-2000:]}")
        answered = _server_id(url)
        if answered == server_id:
            return proc, url
        foreign = foreign or answered is not None
        time.sleep(0.5)
    stop_local_server(proc)
    other = " (another server answers there, not the one started)" if foreign else ""
    raise RuntimeError(f"prefect server did not answer on {url}{other} within the time allowed")


def _server_id(url: str) -> str | None:
    """The :data:`SERVER_ID_HEADER` value in the settings the server at ``url`` (a Prefect API URL) shows at
    ``GET /admin/settings``; ``""`` when something else answers (an error status, no such setting, not JSON),
    ``None`` when nothing answers."""
    # deferred: Prefect's server settings are set before Prefect's modules load
    import httpx

    try:
        r = httpx.get(f"{url}/admin/settings", timeout=2.0)
    except httpx.HTTPError:
        return None
    try:
        value = r.json()["client"]["custom_headers"][SERVER_ID_HEADER] if r.status_code == 200 else ""
    except (ValueError, KeyError, TypeError):
        return ""
    return value if isinstance(value, str) else ""


def _port_free(port: int) -> bool:
    """Whether ``port`` can be bound on 127.0.0.1 now (``SO_REUSEADDR``: a closed connection's wait ignored)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


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


def pause_schedules(served) -> bool:
    """Pause the schedules of the ``served`` deployments (``RunnerDeployment``s, found by their full name) on the
    Prefect server of ``PREFECT_API_URL``, and report it in one line: on stdout when all were paused, else a
    warning on stderr naming those that were not and why (never raises: the stop goes on). Returns whether all
    were paused."""
    # deferred: Prefect's server settings are set before Prefect's modules load
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    failed: list[str] = []
    reason = ""  # once the server itself fails (not one deployment missing), the rest are not tried
    try:
        with get_client(sync_client=True) as client:
            for deployment in served:
                try:
                    if not reason:
                        client.pause_deployment(client.read_deployment_by_name(deployment.full_name).id)
                        continue
                except ObjectNotFound:
                    failed.append(f"{deployment.full_name} (not on the server)")
                    continue
                except Exception as exc:  # noqa: BLE001 - reported in the one line below
                    reason = type(exc).__name__
                failed.append(f"{deployment.full_name} ({reason})")
    except Exception as exc:  # noqa: BLE001 - reported in the one line below
        failed = [f"{d.full_name} ({type(exc).__name__})" for d in served]
    if failed:
        print(f"warning: schedules not paused: {', '.join(failed)}; pause them in the Prefect UI if they should "
              "not run while closeloop serve is stopped", file=sys.stderr, flush=True)
    else:
        print(f"paused the schedules of {len(served)} deployments", flush=True)
    return not failed


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
            served = deployments(config)
            try:  # Prefect's own pausing raises out of serve (a traceback) when a deployment is gone
                serve(*served, print_starting_message=False, pause_on_shutdown=False)
            finally:
                pause_schedules(served)
    finally:
        if proc is not None:
            stop_local_server(proc)
        print("stopped", flush=True)
