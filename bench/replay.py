"""Replay benchmark: the demo's replay and the shared NYC 311 day, beside importing the same rows alone.

For each scenario, in its own subprocess (fresh SQLite file):

- ``replay``: ``closeloop.services.replay.replay.run_replay`` with the demo's settings (step 1 h, 6 weeks
  after the last event, seed 7, messages delivered to capture files), as ``make demo`` runs it;
- ``import``: ``closeloop.services.intake.importing.import_file`` of the same file into a fresh database
  (intake only: no simulated time, no sweeps).

Scenarios: ``demo-cfpb`` and ``demo-nyc311`` (the bundled samples, the two halves of ``make demo``)
and ``nyc311-day`` (``../shared/data/nyc311_2013_dec25``, 1,579 requests; skipped when absent).
Prints CPU seconds (user + system of the worker process) and wall seconds; asserts nothing.
``--profile N`` also prints the top N functions by cumulative time of each replay (cProfile).

    python bench/replay.py
    python bench/replay.py --only nyc311-day --profile 25
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datetime import UTC

from bench._common import ROOT, fmt, run_worker  # noqa: E402

SCENARIOS = {  # name -> (file, configuration or None for the default)
    "demo-cfpb": (ROOT / "examples" / "cfpb_sample.csv", None),
    "demo-nyc311": (ROOT / "examples" / "nyc311_sample.csv", ROOT / "examples" / "nyc311.toml"),
    "nyc311-day": (ROOT.parent / "shared" / "data" / "nyc311_2013_dec25" / "service_requests_2013-12-25.csv",
                   ROOT / "examples" / "nyc311.toml"),
}


def _worker(mode: str, name: str, profile: int) -> dict:
    import os
    import time
    from datetime import timedelta

    from closeloop.config import load_config

    path, conf = SCENARIOS[name]
    cfg = load_config(conf)
    out = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    t0, c0 = time.perf_counter(), os.times()
    stats = None
    if mode == "replay":
        from closeloop.cli.replay import _capture_delivery
        from closeloop.services.replay.replay import run_replay

        def run():
            return run_replay([path], cfg, out, step=timedelta(hours=1), horizon=timedelta(weeks=6), seed=7,
                              deliver=_capture_delivery(out / "capture"))
        if profile:
            import cProfile
            import io
            import pstats

            prof = cProfile.Profile()
            summary = prof.runcall(run)
            buf = io.StringIO()
            pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(profile)
            stats = buf.getvalue()
        else:
            summary = run()
        rows = summary["accounting"]["rows"]
    else:

        from closeloop.clock import FixedClock
        from closeloop.services.intake.importing import import_file
        from models import migrate
        from models.db import make_engine, make_sessions

        engine = make_engine(f"sqlite:///{out / 'import.db'}", scratch=True)  # as the replay's
        migrate.upgrade(engine)
        t0, c0 = time.perf_counter(), os.times()  # the migration is not the import's
        from datetime import datetime

        report = import_file(make_sessions(engine), cfg,
                             FixedClock(datetime(2030, 1, 1, tzinfo=UTC)), path, skip_bad_rows=True)
        rows = report.rows
    c1 = os.times()
    return {"mode": mode, "scenario": name, "rows": rows, "wall_s": round(time.perf_counter() - t0, 2),
            "cpu_s": round((c1.user - c0.user) + (c1.system - c0.system), 2), "profile": stats}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=sorted(SCENARIOS), action="append")
    ap.add_argument("--profile", type=int, default=0, help="print the top N functions of each replay")
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        mode, name, prof = args.worker
        print(json.dumps(_worker(mode, name, int(prof))))
        return
    results = []
    for name in args.only or list(SCENARIOS):
        if not SCENARIOS[name][0].exists():
            print(f"{name}: skipped ({SCENARIOS[name][0]} is absent)")
            continue
        for mode in ("replay", "import"):
            r = run_worker([sys.executable, __file__, "--worker", mode, name, str(args.profile)], mode)
            r.setdefault("scenario", name)
            results.append(r)
            if r.get("profile"):
                print(f"--- profile of the {name} replay ---\n{r['profile']}")
    print(f"{'scenario':<14}{'mode':<8}{'rows':>7}{'CPU s':>9}{'wall s':>9}")
    for r in results:
        if "error" in r:
            print(f"{r['scenario']:<14}{r['mode']:<8} error: {r['error']}")
            continue
        print(f"{r['scenario']:<14}{r['mode']:<8}{fmt(r['rows'], 'd'):>7}{r['cpu_s']:>9.1f}{r['wall_s']:>9.1f}")
    demo = [r for r in results if r["scenario"].startswith("demo-") and r["mode"] == "replay" and "cpu_s" in r]
    if len(demo) == 2:
        print(f"demo replay (both samples): {sum(r['cpu_s'] for r in demo):.1f} CPU-seconds (target: under 30)")


if __name__ == "__main__":
    main()
