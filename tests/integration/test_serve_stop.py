"""``stop_local_server`` returns only once the local Prefect server's whole process group has stopped:
``prefect server start`` runs its web server as a child, which may answer for a moment after the parent exited
(a CI run saw the UI still answering 0.5 s after ``closeloop serve`` had returned)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from flows.serve import stop_local_server

#: the parent exits at once on SIGTERM; its child (the "web server") takes 1.5 s to shut down
_PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", '''
import signal, sys, time
signal.signal(signal.SIGTERM, lambda *a: (time.sleep(1.5), sys.exit(0)))
open(sys.argv[1], "w").write("up")
time.sleep(60)
''', sys.argv[1]])
print(child.pid, flush=True)
time.sleep(60)
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_stop_waits_for_the_servers_child_processes(tmp_path):
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", _PARENT, str(ready)], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        assert proc.stdout is not None
        child = int(proc.stdout.readline())
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), "the child did not start"
        started = time.monotonic()
        stop_local_server(proc, grace_s=10.0)
        took = time.monotonic() - started
        assert proc.poll() is not None
        assert not _running(child), "stop_local_server returned while the server's child still ran"
        assert took >= 1.0  # it waited for the child's own shutdown, not only the parent's
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
