"""K10 check: the three configuration-change passes of ``sweep.py`` on a copy of one prepared file, each
timed in this process and followed by a digest of the stored timers and due columns.

Run the same file with two versions of the code (``PYTHONPATH=<other checkout>``) and compare the digests
(and the CPU seconds) line by line: the passes must leave identical rows.

    python bench/sweep.py --complaints 20000 --no-queries --no-policy --trace-mode none --base /tmp/b20k.db
    python bench/k10_check.py prep /tmp/b20k.db /tmp/pre20k.db   # catch-up, right after, 1% dirty
    python bench/k10_check.py k10 /tmp/pre20k.db --digest         # the three K10 passes
    python bench/k10_check.py k10 /tmp/pre20k.db --passes 0       # the calendar change only

Digest: sha256 (first 16 hex digits) of every timer's key, status, ``fire_at``, data, kind, task and
complaint as SQLite stores them (text), every task's id, ``due_at``, ``ack_due_at`` and version, every
complaint's id, ``due_at``, ``timers_dirty`` and version. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sqlite3
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

DIGESTS = (
    ("timers", "SELECT key, status, fire_at, data, kind, task_id, complaint_id FROM timer ORDER BY key"),
    ("tasks", "SELECT id, due_at, ack_due_at, version FROM task ORDER BY id"),
    ("complaints", "SELECT id, due_at, timers_dirty, version FROM complaint ORDER BY id"),
)


def digest(path: str) -> dict:
    """(rows, digest) per table of :data:`DIGESTS`."""
    con = sqlite3.connect(path)
    out = {}
    for name, query in DIGESTS:
        h = hashlib.sha256()
        n = 0
        for row in con.execute(query):
            h.update(repr(row).encode())
            n += 1
        out[name] = (n, h.hexdigest()[:16])
    con.close()
    return out


def prepare(base: str, dst: str) -> None:
    """``dst``: a copy of ``base`` after the bench's ordinary sweeps (catch-up, right after, 1% dirty)."""
    from sweep_data import NOW, RESCHEDULE_SWEEP, SECOND_SWEEP, _flag_dirty

    from closeloop.config import load_config
    from closeloop.services.engine.sweep import sweep
    from models.db import make_engine, make_sessions

    config = load_config()
    shutil.copyfile(base, dst)
    engine = make_engine(f"sqlite:///{dst}")
    sessions = make_sessions(engine)
    sweep(sessions, config, NOW)
    sweep(sessions, config, SECOND_SWEEP)
    _flag_dirty(engine)
    sweep(sessions, config, RESCHEDULE_SWEEP)
    engine.dispose()
    con = sqlite3.connect(dst)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    print(digest(dst))


def run_passes(src: str, passes: list[int], with_digest: bool) -> None:
    """The K10 passes ``passes`` (indexes of ``sweep.POLICY_EDITS``) in order on a copy of ``src``."""
    from sweep import policy_changes
    from sweep_data import POLICY_SWEEP

    from closeloop.config import load_config
    from closeloop.services.engine.sweep import sweep
    from models.db import make_engine, make_sessions

    work = f"{src}.k10-{os.getpid()}.db"
    shutil.copyfile(src, work)
    try:
        engine = make_engine(f"sqlite:///{work}")
        sessions = make_sessions(engine)
        changes = policy_changes(load_config())
        for i in passes:
            name, cfg = changes[i]
            load0 = os.getloadavg()[0]
            t0, c0 = time.perf_counter(), time.process_time()
            report = sweep(sessions, cfg, POLICY_SWEEP + timedelta(minutes=i))
            secs, cpu = time.perf_counter() - t0, time.process_time() - c0
            print(f"{name}: {secs:.2f}s {cpu:.2f} CPU-s load {load0:.1f}-{os.getloadavg()[0]:.1f} "
                  f"rescheduled {report.rescheduled}", flush=True)
            if with_digest:
                print("  digest", digest(work), flush=True)
        engine.dispose()
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(work + suffix).unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=("prep", "k10"))
    ap.add_argument("src", help="prep: the bench's base file; k10: a file made by prep")
    ap.add_argument("dst", nargs="?", help="prep: the file to write")
    ap.add_argument("--passes", default="0,1,2", help="indexes of sweep.POLICY_EDITS, run in this order")
    ap.add_argument("--digest", action="store_true", help="digest the rows after each pass")
    a = ap.parse_args()
    import closeloop

    print("code:", Path(closeloop.__file__).parent, flush=True)
    if a.mode == "prep":
        if not a.dst:
            ap.error("prep needs the file to write")
        prepare(a.src, a.dst)
    else:
        run_passes(a.src, [int(p) for p in a.passes.split(",")], a.digest)


if __name__ == "__main__":
    main()
