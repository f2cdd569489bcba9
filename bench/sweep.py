"""Sweep benchmark: ``closeloop.services.engine.sweep.sweep`` on 100,000 open complaints with 300,000 tasks.

Builds a database directly with bulk Core inserts (not through the import:
that is ``bench/import.py``'s job), in the state the engine leaves it in after
scheduling:

- ``--complaints`` open (``triaged``) complaints, ``timers_dirty`` false, each with
  3 open tasks (operations, product, service), their audit rows (receive,
  triage, task create) and the ``due_at`` / ``ack_due_at`` the clocks give;
- one pending timer per task per kind: ``reminder:{task}:{50,80,100}``,
  ``ack_timeout:{task}``, ``escalation:{task}:{1..4}``, plus the two
  ``promise:{complaint}:{3,4}`` timers the engine keeps for a complaint with a
  customer promise (keys exactly as ``closeloop/services/engine/schedule.py`` makes them);
- ``--due-fraction`` of the complaints (so the same fraction of the tasks) are
  *due*: created weeks ago and never swept since, every timer of theirs has
  passed (a catch-up after downtime); every timer of the others lies in the future.

The instants are not guessed: for each (severity, creation instant) cohort
the real engine (``refresh_due`` + ``reschedule`` on a scratch in-memory
database) computes the complaint's and tasks' due instants and the timers, and
the bulk rows copy them. So a reschedule of an untouched complaint moves nothing.

Measured, each in its own subprocess on its own copy of the database (a copied
SQLite file, or a freshly built PostgreSQL schema dropped afterwards):

- ``sweep``: ``sweep(sessions, load_config(), now)`` at ``now`` (fires every due
  timer, packs the digests), then a second sweep right after (finds nothing),
  then a *reschedule* pass: 1% of the complaints flagged ``timers_dirty`` and a
  third sweep. Wall time from an untraced pass, tracemalloc peak from a second,
  traced pass (``--trace-mode same``: one traced pass gives both);
- ``queries``: the bare SQL the sweep runs (dirty-complaints select, due-timers
  select, pending-notifications select), built exactly as ``sweep.py`` builds
  them, executed on their own through a Core connection (no ORM objects), plus
  the sweep's steps (``_reschedule_dirty``, ``_fire_due``, ``_pack``: private
  functions of ``sweep.py``, called in ``sweep()``'s order) timed one by one,
  every statement they send counted and timed (cursor execute time, by statement).

``--profile FILE`` adds a cProfile pass of the first sweep (pstats written to FILE,
the top functions printed). Figures only: nothing is asserted.

    python bench/sweep.py                                   # SQLite, 100,000 complaints
    python bench/sweep.py --complaints 20000 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fmt, maxrss_mib, run_worker  # noqa: E402
from sweep_data import (  # noqa: E402
    DIRTY_MODULO,
    NOW,
    POLICY_SWEEP,
    RESCHEDULE_SWEEP,
    SECOND_SWEEP,
    TASKS,
    Databases,
    _flag_dirty,
    compute_cohorts,
)
from sweep_queries import measure_queries  # noqa: E402

# ------------------------------------------------------------------ measurements (each runs in a subprocess)



def _timer_snapshot(engine) -> dict:
    from sqlalchemy import select

    from models.tables import Timer

    t = Timer.__table__
    with engine.connect() as conn:
        return {k: (st, at) for k, st, at in conn.execute(
            select(t.c.key, t.c.status, t.c.fire_at).where(t.c.complaint_id % DIRTY_MODULO == 0))}


def _db_counts(engine) -> dict:
    from sqlalchemy import func, select

    from models.tables import Complaint, Notification, Outbox, Timer

    with engine.connect() as c:
        out = {f"timers {s}": n for s, n in c.execute(
            select(Timer.status, func.count()).group_by(Timer.status).order_by(Timer.status))}
        out |= {f"notifications {s}": n for s, n in c.execute(
            select(Notification.status, func.count()).group_by(Notification.status).order_by(Notification.status))}
        out["outbox"] = c.execute(select(func.count()).select_from(Outbox)).scalar_one()
        out["largest digest body KiB"] = round((c.execute(select(func.max(func.length(Outbox.body)))).scalar()
                                                or 0) / 1024, 1)
        out["complaints dirty"] = c.execute(select(func.count()).select_from(Complaint)
                                            .where(Complaint.timers_dirty.is_(True))).scalar_one()
    return out


def measure_sweep(url: str, trace: bool, batch: int, policy: bool = True) -> dict:
    from closeloop.config import load_config
    from closeloop.services.engine.sweep import sweep
    from models.db import make_engine, make_sessions

    config = load_config()
    engine = make_engine(url)
    sessions = make_sessions(engine)
    out: dict = {"traced": trace, "passes": {}}

    def run(name: str, at: datetime, cfg=config) -> None:
        gc.collect()
        rss0 = maxrss_mib()
        if trace:
            tracemalloc.start()
        load0 = os.getloadavg()[0]
        t0, c0 = time.perf_counter(), time.process_time()
        report = sweep(sessions, cfg, at, batch=batch)
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        p = {"seconds": secs, "cpu_seconds": cpu, "load": (load0, os.getloadavg()[0]), "report": report.as_dict(),
             "complaints": len(report.complaints),
             "maxrss_mib": maxrss_mib(), "rss_growth_mib": maxrss_mib() - rss0}
        if trace:
            p["peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        out["passes"][name] = p

    out["rss_before_mib"] = maxrss_mib()
    run("sweep 1 (catch-up)", NOW)
    run("sweep 2 (right after)", SECOND_SWEEP)
    out["flagged_dirty"] = _flag_dirty(engine)
    before = _timer_snapshot(engine)
    run("reschedule (1% dirty)", RESCHEDULE_SWEEP)
    after = _timer_snapshot(engine)
    out["reschedule_diff"] = {
        "timers of flagged complaints": len(before),
        "moved": sum(1 for k, (st, at) in after.items() if k in before and before[k][1] != at),
        "status changed": sum(1 for k, (st, at) in after.items() if k in before and before[k][0] != st),
        "new": sum(1 for k in after if k not in before),
    }
    # K10: a new policy reaches the open complaints it can at the next sweep: every one for the customer
    # calendar's hours (every due instant and timer moves) or the ladder (few timers move), those of one
    # severity for its target
    if policy:
        for i, (name, cfg) in enumerate(policy_changes(config)):
            run(name, POLICY_SWEEP + timedelta(minutes=i), cfg)
    out["maxrss_mib"] = maxrss_mib()
    out["db_counts"] = _db_counts(engine)
    engine.dispose()
    return out


#: The K10 passes, each on top of the one before: (pass name, text in the default configuration, its edit).
POLICY_EDITS = (
    ("K10 all: calendar hours", 'hours = "mon-fri 09:00-17:00"', 'hours = "mon-fri 08:00-17:00"'),
    ("K10 all: ladder 4 16->24h", "ladder_hours = [0, 4, 8, 16]", "ladder_hours = [0, 4, 8, 24]"),
    ("K10 P3 only: resolve 40->60", "P3 = { acknowledge = 4, resolve = 40, update = 8 }",
     "P3 = { acknowledge = 4, resolve = 60, update = 8 }"),
)


def policy_changes(config) -> list[tuple[str, object]]:
    """The configurations of :data:`POLICY_EDITS`: the default calendar's hours 09:00 -> 08:00 (it is the
    customer calendar: every open complaint, every due instant and timer moves), then the ladder's level 4
    (every open complaint; the level-4 escalations of the crisis severities move), then P3's resolve target
    40 -> 60 business hours (issue 12, case 1: the P3 complaints only)."""
    from closeloop.config import parse_config

    text, out = config.text, []
    for name, old, new in POLICY_EDITS:
        if text.count(old) != 1:
            raise SystemExit("bench: the default configuration no longer states " + old + " once")
        text = text.replace(old, new)
        out.append((name, parse_config(text, "bench: " + name)))
    return out


def measure_profile(url: str, batch: int, path: Path) -> dict:
    import cProfile

    from closeloop.config import load_config
    from closeloop.services.engine.sweep import sweep
    from models.db import make_engine, make_sessions

    config = load_config()
    engine = make_engine(url)
    sessions = make_sessions(engine)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    report = sweep(sessions, config, NOW, batch=batch)
    prof.disable()
    secs = time.perf_counter() - t0
    prof.dump_stats(str(path))
    engine.dispose()
    return {"seconds": secs, "report": report.as_dict()}


def run_in_subprocess(mode: str, url: str, a: argparse.Namespace, trace: bool = False) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", mode, "--worker-url", url,
           "--batch", str(a.batch), "--repeats", str(a.repeats)] + (["--no-policy"] if a.no_policy else [])
    if trace:
        cmd.append("--trace")
    if mode == "profile":
        cmd += ["--profile", str(a.profile)]
    return run_worker(cmd, mode)


# ------------------------------------------------------------------ main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--complaints", type=int, default=100_000, help="open complaints, 3 tasks each (default 100000)")
    ap.add_argument("--due-fraction", type=float, default=0.05,
                    help="fraction of complaints (and so of tasks) whose timers have all passed (default 0.05)")
    ap.add_argument("--database-url", default=None,
                    help="PostgreSQL URL (a fresh schema per measurement, built there and dropped after); "
                         "default: SQLite, built once in the temp dir and copied per measurement")
    ap.add_argument("--batch", type=int, default=500, help="sweep(batch=...) (default 500, the sweep's own)")
    ap.add_argument("--trace-mode", choices=("separate", "same", "none"), default="separate",
                    help="separate: time an untraced pass, take the tracemalloc peaks from a second traced pass "
                         "(default); same: one traced pass gives both (faster, slower timings); none: no "
                         "tracemalloc peaks (100,000 complaints: the traced policy pass takes three times as long)")
    ap.add_argument("--repeats", type=int, default=5, help="executions of each bare query (default 5)")
    ap.add_argument("--no-queries", action="store_true", help="skip the bare-query and per-step pass")
    ap.add_argument("--no-policy", action="store_true", help="skip the K10 policy-change passes (POLICY_EDITS)")
    ap.add_argument("--profile", type=Path, default=None,
                    help="also run the first sweep under cProfile, write the pstats to this file, print the top")
    ap.add_argument("--seed", type=int, default=20260304)
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (SQLite files) and print its path")
    ap.add_argument("--base", type=Path, default=None,
                    help="SQLite: the built database file to reuse (built there first when missing; its size must "
                         "match --complaints, --due-fraction and --seed: the bench does not check)")
    # internal: one measurement in this process
    ap.add_argument("--worker", choices=("sweep", "queries", "profile"), help=argparse.SUPPRESS)
    ap.add_argument("--worker-url", help=argparse.SUPPRESS)
    ap.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a.worker:
        if a.worker == "sweep":
            r = measure_sweep(a.worker_url, a.trace, a.batch, policy=not a.no_policy)
        elif a.worker == "queries":
            r = measure_queries(a.worker_url, a.batch, a.repeats)
        else:
            r = measure_profile(a.worker_url, a.batch, a.profile)
        print(json.dumps(r, default=str))
        return 0

    url = a.database_url
    if url and url.startswith("sqlite"):
        ap.error("--database-url: give a PostgreSQL URL; SQLite (the default) always uses fresh temp files")
    if a.complaints < 1 or not 0 <= a.due_fraction <= 1:
        ap.error("--complaints must be positive and --due-fraction within 0..1")
    if a.profile is not None:
        a.profile = a.profile.resolve()
    workdir = Path(tempfile.mkdtemp(prefix="closeloop-bench-sweep-"))
    try:
        return _run(a, url, workdir)
    finally:
        if a.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(a: argparse.Namespace, url: str | None, workdir: Path) -> int:
    from closeloop.config import load_config

    config = load_config()
    backend = "PostgreSQL " + url.split("@")[-1] if url else "SQLite (built once, file copied per measurement)"
    print(f"closeloop sweep benchmark: backend {backend}; {a.complaints:,} complaints x {len(TASKS)} tasks; "
          f"due fraction {a.due_fraction}; now {NOW.isoformat()}; batch {a.batch}; Python {sys.version.split()[0]}; "
          f"seed {a.seed}", flush=True)
    t0 = time.perf_counter()
    cohorts = compute_cohorts(config)
    print(f"  {len(cohorts)} cohorts scheduled by the engine in {time.perf_counter() - t0:.1f}s "
          f"({sum(len(c.timers) for c in cohorts[:1])} timers per complaint)", flush=True)
    dbs = Databases(url, workdir, config, a, cohorts)
    if url is None:
        dbs.prepare_sqlite_base(a.base.resolve() if a.base is not None else None)
        print(f"  built {dbs.base.name}: {dbs.counts} in {dbs.build_seconds[-1]:.1f}s, "
              f"{dbs.base.stat().st_size / 2**20:.0f} MiB", flush=True)

    def measure(mode: str, trace: bool = False) -> dict:
        db_url, drop = dbs.new(mode + ("_traced" if trace else ""))
        if url is not None:
            print(f"  built schema for {mode}{' (traced)' if trace else ''}: {dbs.counts} in "
                  f"{dbs.build_seconds[-1]:.1f}s", flush=True)
        try:
            r = run_in_subprocess(mode, db_url, a, trace)
        finally:
            drop()
        if "error" in r:
            print(f"  {mode}: FAILED: {r['error']}", flush=True)
            sys.stderr.write(r.get("stderr", ""))
        else:
            print(f"  {mode}{' (traced)' if trace else ''}: done", flush=True)
        return r

    untraced = measure("sweep", trace=(a.trace_mode == "same"))
    traced = measure("sweep", trace=True) if a.trace_mode == "separate" and "error" not in untraced else None
    queries = measure("queries") if not a.no_queries else None
    profile = measure("profile") if a.profile is not None else None

    _print_database(dbs)
    if "error" in untraced:
        print(f"sweep FAILED: {untraced['error']}")
        return 1
    _print_passes(a, untraced, traced)
    if queries is not None:
        _print_queries(a, queries)
    if profile is not None and "error" not in profile:
        _print_profile(a, profile)
    return 0


def _print_database(dbs) -> None:
    counts = dbs.counts
    print()
    print(f"database: {counts.get('complaints', 0):,} complaints, {counts.get('tasks', 0):,} tasks "
          f"({counts.get('due_tasks', 0):,} due, in {counts.get('due_complaints', 0):,} complaints), "
          f"{counts.get('transitions', 0):,} audit rows, {counts.get('timers', 0):,} pending timers "
          f"({counts.get('due_timers', 0):,} due); build {min(dbs.build_seconds):.1f}s")


def _print_passes(a: argparse.Namespace, untraced: dict, traced: dict | None) -> None:
    print()
    head = (f"{'pass':<28} {'seconds':>8} {'CPU s':>7} {'load':>9} {'timers/s':>9} {'peak MiB':>9} {'RSS +MiB':>9} "
            f"{'fired':>8} {'notes':>8} {'digests':>7} {'resched':>7}")
    print(head)
    print("-" * len(head))
    for name, p in untraced["passes"].items():
        rep = p["report"]
        fired = sum(rep["fired"].values())
        peak = (traced or {}).get("passes", {}).get(name, {}).get("peak_mib") if traced else p.get("peak_mib")
        rate = fired / p["seconds"] if fired and p["seconds"] else None
        load = "{:.1f}-{:.1f}".format(*p["load"]) if "load" in p else "-"
        print(f"{name:<28} {p['seconds']:>8.2f} {fmt(p.get('cpu_seconds'), '.2f'):>7} {load:>9} {fmt(rate, ',.0f'):>9} "
              f"{fmt(peak, '.1f'):>9} "
              f"{p['rss_growth_mib']:>9.1f} {fired:>8,} {rep['notifications']:>8,} {rep['messages']:>7,} "
              f"{rep['rescheduled']:>7,}")
    first = untraced["passes"]["sweep 1 (catch-up)"]["report"]
    print(f"fired by kind (sweep 1): {first['fired']}")
    print(f"reschedule pass: {untraced['flagged_dirty']:,} complaints flagged; their timers after it: "
          f"{untraced['reschedule_diff']}")
    first_pass = untraced["passes"]["sweep 1 (catch-up)"]
    if any(name in untraced["passes"] for name, _, _ in POLICY_EDITS):
        print("K10 (target: a change reaching every open complaint rescheduled in under 60 s on SQLite)")
    for name, _, _ in POLICY_EDITS:
        policy = untraced["passes"].get(name)
        if policy is None:
            continue
        print(f"{name}: "
              f"{policy['report'].get('policy_flagged', 0):,} complaints flagged and "
              f"{policy['report']['rescheduled']:,} rescheduled in {policy['seconds']:.1f}s "
              f"({policy['cpu_seconds']:.1f} CPU s, load {policy['load'][0]:.1f}-{policy['load'][1]:.1f}); "
              f"the ordinary sweep beside it: catch-up {first_pass['seconds']:.1f}s "
              f"({first_pass['cpu_seconds']:.1f} CPU s), 1% dirty "
              f"{untraced['passes']['reschedule (1% dirty)']['seconds']:.1f}s")
    print(f"after the passes: {untraced['db_counts']}; worker max RSS {untraced['maxrss_mib']:.0f} MiB")
    print("RSS +MiB: growth of the worker's max RSS (a high-water mark) during the pass")
    print("seconds, RSS: untraced pass; " + ("peak MiB: tracemalloc peak of each pass (tracing started at the "
                                            "pass, so memory held before it is not counted), from a second, "
                                            "traced run" if a.trace_mode == "separate" else
                                            "none taken (--trace-mode none)" if a.trace_mode == "none" else
                                            "one traced run gives all figures (timings include tracing)"))
    if traced is not None and "error" not in traced:
        secs = {k: round(v["seconds"], 1) for k, v in traced["passes"].items()}
        print(f"traced run seconds (tracemalloc overhead): {secs}")


def _print_queries(a: argparse.Namespace, queries: dict) -> None:
    if "error" in queries:
        print(f"queries pass FAILED: {queries['error']}")
        return
    print()
    title = "bare SQL, timed on its own (Core, no ORM objects)"
    head = f"{title:<48} {'rows':>8} {'first ms':>9} {'median ms':>10}"
    print(head)
    print("-" * len(head))
    for label, r in queries["queries"].items():
        print(f"{label:<48} {r['rows']:>8,} {r['first_ms']:>9.2f} {r['median_ms']:>10.2f}")
    print(f"(median of {a.repeats} executions; 'first' is the first of them)")
    for name, plan in queries["plans"].items():
        print(f"plan {name}: " + " | ".join(p.strip() for p in plan))
    print()
    head = (f"{'sweep 1 step by step':<36} {'seconds':>8} {'CPU s':>7} {'statements':>10} {'SQL s':>8} "
            f"{'other s':>8}")
    print(head)
    print("-" * len(head))
    for ph in queries["phases"]:
        print(f"{ph['phase']:<36} {ph['seconds']:>8.2f} {ph['cpu_seconds']:>7.2f} {ph['statements']:>10,} "
              f"{ph['sql_seconds']:>8.2f} "
              f"{ph['seconds'] - ph['sql_seconds']:>8.2f}")
    print("SQL s: cursor execute time of every statement the step sent (on SQLite rows are fetched later, "
          "outside it; commits not included); other s: Python, ORM, fetching, commits")
    _print_floor(queries)
    for name, stmts in queries["statements"].items():
        if not stmts:
            continue
        print(f"  {name}: top statements by SQL time")
        for st in stmts[:8]:
            print(f"    {st['count']:>8,} x {st['seconds'] * 1000 / st['count']:>7.3f} ms = "
                  f"{st['seconds']:>7.2f}s  {st['sql']}")


def _print_floor(queries: dict) -> None:
    """The bare SQL floor of the first sweep's database phase beside the sweep's fire and pack steps."""
    floor = queries.get("floor")
    if not floor:
        return
    phases = {ph["phase"]: ph for ph in queries["phases"]}
    steps = [phases[n] for n in ("2 fire due timers", "4 pack digests") if n in phases]
    secs = sum(ph["seconds"] for ph in steps)
    cpu = sum(ph["cpu_seconds"] for ph in steps)
    print(f"bare SQL floor of fire + pack ({floor['timers']:,} timers; one transaction, rolled back): "
          f"{floor['seconds']:.2f}s = " + ", ".join(f"{k} {v:.2f}s" for k, v in floor["steps"].items()))
    print(f"sweep fire + pack: {secs:.2f}s ({cpu:.2f} CPU s) = {secs / floor['seconds']:.1f}x the floor "
          f"(target: within 3x)" if floor["seconds"] else "")


def _print_profile(a: argparse.Namespace, profile: dict) -> None:
    import pstats

    print()
    print(f"cProfile of sweep 1: {profile['seconds']:.1f}s under the profiler; stats in {a.profile}")
    st = pstats.Stats(str(a.profile))
    st.sort_stats("tottime").print_stats(20)
    st.sort_stats("cumulative").print_stats(35)


if __name__ == "__main__":
    sys.exit(main())
