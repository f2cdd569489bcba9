"""The chaos run of issue 18 with bigger numbers: sweep and delivery worker processes killed with SIGKILL at seeded
random moments against a flaky local webhook receiver, then the tool's own sweep / deliver / ``outbox retry``;
prints the figures and whether every promise held. The logic is ``tests/chaos_support.py`` (the suite's
``tests/integration/test_chaos.py`` runs the same, small and bounded).

    python bench/chaos.py                                    # SQLite file, 400 complaints, 60 kills in 60 s
    python bench/chaos.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python bench/chaos.py --complaints 1000 --kills 150 --seconds 120 --sweepers 3 --deliverers 3

Each run uses a fresh database (a new SQLite file, or a new PostgreSQL schema dropped afterwards). Exit status 1
when a check failed (the problems are printed).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import fields
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _args() -> argparse.Namespace:
    from tests.chaos_support import ChaosParams

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", default=None, help="PostgreSQL URL (default: a new SQLite file)")
    defaults = ChaosParams(complaints=400, kills=60, seconds=60.0)
    for f in fields(ChaosParams):
        ap.add_argument(f"--{f.name.replace('_', '-')}", type=type(getattr(defaults, f.name)),
                        default=getattr(defaults, f.name))
    return ap.parse_args()


def _print(fig) -> None:
    from tests.chaos_support import FIGURES

    print(f"{fig.backend}: {fig.wall_s:.1f} s wall")
    for key in FIGURES:
        print(f"  {key.replace('_', ' '):<22} {fig.n[key]}")
    print(f"  {'dead letters by reason':<22} {fig.dead_reasons}")
    if fig.resumed_s:
        print(f"  {'resumed after a drop':<22} {fig.resumed_s} (s, worst drop, per worker kind)")
    print("  held: every due timer fired once, every message delivered, no key twice" if not fig.problems
          else "  PROBLEMS:\n" + "\n".join(f"    - {p}" for p in fig.problems))


def main() -> int:
    from bench.deliver import fresh_database
    from tests.chaos_support import ChaosParams, run_chaos

    args = _args()
    params = ChaosParams(**{f.name: getattr(args, f.name) for f in fields(ChaosParams)})
    engine, _sessions, cleanup = fresh_database(args.database_url)
    url, backend = engine.url.render_as_string(hide_password=False), engine.dialect.name
    engine.dispose()
    try:
        with tempfile.TemporaryDirectory(prefix="closeloop-chaos-") as tmp:
            fig = run_chaos(url, params, Path(tmp), backend)
    finally:
        cleanup()
    _print(fig)
    return 1 if fig.problems else 0


if __name__ == "__main__":
    sys.exit(main())
