"""Helpers shared by the benchmarks (run as scripts: ``python bench/<name>.py``)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def maxrss_mib() -> float:
    """This process's peak resident set size in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fmt(v, spec: str) -> str:
    """A figure for a table, ``-`` when missing."""
    return "-" if v is None else format(v, spec)


def schema_url(url: str, schema: str) -> str:
    """A PostgreSQL URL whose connections use ``schema`` first (one fresh schema per measurement)."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def run_worker(cmd: list[str], mode: str) -> dict:
    """Run one measurement in a fresh Python process; its last stdout line is a JSON object."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"mode": mode, "error": (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1],
                "stderr": proc.stderr}
    return json.loads(proc.stdout.strip().splitlines()[-1])
