"""What 2 KB per complaint would take (issue 17): the lifecycle benchmark's rows, re-encoded step by step.

Runs ``n`` lifecycles as ``bench/lifecycle.py`` does, keeps the SQLite file, and rewrites a copy of it in
three cumulative steps, printing the bytes per complaint (``dbstat``: tables and indexes, after ``VACUUM``,
less a database holding only the warm-up complaint) after each:

1. as stored (instants as ``YYYY-MM-DD HH:MM:SS.ffffff`` text, states and triggers as text);
2. every DATETIME column as integer microseconds since 1970 (SQLite stores 6 bytes instead of 26);
3. the audit log's entity, states and trigger as small integer codes;
4. the complaint's and the task's status and severity as codes too.

Nothing here changes closeloop's storage; it measures what such a change would save, so the decision
can be made on figures (bench/README.md, "Bytes").

    python bench/bytes_what_if.py -n 300
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import sys
import tempfile
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import deliver  # noqa: E402
import lifecycle  # noqa: E402

_SIZES = ("SELECT coalesce(m.tbl_name, d.name), sum(d.pgsize) FROM dbstat d "
          "LEFT JOIN sqlite_master m ON m.name = d.name GROUP BY 1")


def _kept_database(n: int) -> Path:
    """Run ``n`` lifecycles (``n`` 0: the warm-up complaint only) and copy the SQLite file out."""
    kept: list[Path] = []
    make = deliver.fresh_database

    def keep(url):
        engine, sessions, cleanup = make(url)

        def copy_then_clean():
            with engine.connect() as c:
                c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            target = Path(tempfile.mkdtemp(prefix="closeloop-bytes-")) / "kept.db"
            shutil.copy(str(engine.url.database), target)
            kept.append(target)
            cleanup()
        return engine, sessions, copy_then_clean

    lifecycle.fresh_database = keep
    try:
        lifecycle.run(None, n)
    finally:
        lifecycle.fresh_database = make
    return kept[0]


def _size(c: sqlite3.Connection) -> dict[str, int]:
    c.execute("VACUUM")
    return {name: int(size) for name, size in c.execute(_SIZES)}


def _steps(c: sqlite3.Connection):
    """Yield (label, sizes by table) after each cumulative re-encoding."""
    yield "as stored", _size(c)
    for (table,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        for _, column, kind, *_ in c.execute(f'PRAGMA table_info("{table}")').fetchall():
            if kind == "DATETIME":
                c.execute(f'UPDATE "{table}" SET "{column}" = CAST((julianday("{column}") - 2440587.5) * 86400 '
                          f'AS INTEGER) * 1000000 + CAST(substr("{column}", 21, 6) AS INTEGER) '
                          f'WHERE typeof("{column}") = \'text\'')
    yield "instants as integer microseconds", _size(c)
    codes: dict[str, int] = {}
    c.create_function("code", 1, lambda v: None if v is None else codes.setdefault(v, len(codes) + 1))
    c.execute('UPDATE transition SET entity = code(entity), from_state = code(from_state), '
              'to_state = code(to_state), "trigger" = code("trigger")')
    yield "+ audit entity, states and trigger as codes", _size(c)
    c.execute("UPDATE task SET status = code(status)")
    c.execute("UPDATE complaint SET status = code(status), severity = code(severity)")
    yield "+ complaint and task status, severity as codes", _size(c)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=300, help="complaints (default 300)")
    n = ap.parse_args().n
    base_path, path = _kept_database(0), _kept_database(n)
    with closing(sqlite3.connect(base_path)) as b:
        base = _size(b)
    print(f"bytes per complaint of {n:,} lifecycles (dbstat after VACUUM, tables and indexes; target <= 2,048)")
    with closing(sqlite3.connect(path, isolation_level=None)) as c:
        c.execute("PRAGMA ignore_check_constraints = 1")  # the status CHECKs name the text values
        for label, sizes in _steps(c):
            grown = {t: s - base.get(t, 0) for t, s in sizes.items()}
            big = sorted(grown.items(), key=lambda kv: -kv[1])[:3]
            print(f"  {label:<48} {sum(grown.values()) / n:7,.0f}   "
                  + ", ".join(f"{t} {s / n:,.0f}" for t, s in big))
    for p in (base_path, path):
        shutil.rmtree(p.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
