"""Import benchmark: synthetic CFPB exports through ``import_file`` vs a bare Core insert.

Builds synthetic CSV files shaped like the current-layout CFPB export (same
header as ``../shared/data/cfpb_2023_sample/complaints.csv``; values drawn with
a fixed seed from that file's value distributions when it is present, else from
a small built-in list), then for each size:

- ``import``:   ``closeloop.services.intake.importing.import_file`` into a fresh, migrated database;
- ``baseline``: a bare SQLAlchemy Core ``insert(complaint)`` executemany of the
  same rows, already parsed, minimal columns filled, same batch size, one transaction.

Every measurement runs in its own subprocess on its own fresh database, so the
process max RSS (``getrusage``) belongs to that measurement alone. Wall time is
taken from a pass without tracemalloc (tracing slows Python allocation down a
lot); the tracemalloc peak comes from a second, traced pass on another fresh
database (``--trace-mode same`` does both in one traced pass).

Figures only: nothing is asserted.

    python bench/import.py                                  # SQLite, 10,000 and 100,000 rows
    python bench/import.py --sizes 10000 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fmt, maxrss_mib, run_worker  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT.parent / "shared" / "data" / "cfpb_2023_sample" / "complaints.csv"
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)

HEADER = ["Date received", "Product", "Sub-product", "Issue", "Sub-issue", "Consumer complaint narrative",
          "Company public response", "Company", "State", "ZIP code", "Tags", "Consumer consent provided?",
          "Submitted via", "Date sent to company", "Company response to consumer", "Timely response?",
          "Consumer disputed?", "Complaint ID"]

# ------------------------------------------------------------------ value pools

# Used when ../shared is absent: a small, realistic slice of the CFPB taxonomy.
BUILTIN_TAXONOMY = [  # (Product, Sub-product, Issue, Sub-issue), weight
    (("Credit reporting, credit repair services, or other personal consumer reports", "Credit reporting",
      "Incorrect information on your report", "Information belongs to someone else"), 30),
    (("Credit reporting, credit repair services, or other personal consumer reports", "Credit reporting",
      "Problem with a credit reporting company's investigation into an existing problem",
      "Their investigation did not fix an error on your report"), 20),
    (("Credit reporting, credit repair services, or other personal consumer reports", "Credit reporting",
      "Improper use of your report", "Reporting company used your report improperly"), 20),
    (("Credit card or prepaid card", "General-purpose credit card or charge card",
      "Problem with a purchase shown on your statement",
      "Credit card company isn't resolving a dispute about a purchase on your statement"), 6),
    (("Debt collection", "I do not know", "Attempts to collect debt not owed", "Debt is not yours"), 6),
    (("Checking or savings account", "Checking account", "Managing an account", "Deposits and withdrawals"), 5),
    (("Mortgage", "Conventional home mortgage", "Trouble during payment process", ""), 4),
    (("Money transfer, virtual currency, or money service", "Domestic (US) money transfer",
      "Fraud or scam", ""), 3),
    (("Vehicle loan or lease", "Loan", "Managing the loan or lease", "Billing problem"), 2),
    (("Student loan", "Federal student loan servicing", "Dealing with your lender or servicer",
      "Trouble with how payments are being handled"), 2),
]
BUILTIN = {
    "Company": [("TRANSUNION INTERMEDIATE HOLDINGS, INC.", 27), ("EQUIFAX, INC.", 25),
                ("Experian Information Solutions Inc.", 24), ("WELLS FARGO & COMPANY", 3),
                ("BANK OF AMERICA, NATIONAL ASSOCIATION", 3), ("JPMORGAN CHASE & CO.", 3),
                ("CAPITAL ONE FINANCIAL CORPORATION", 3), ("CITIBANK, N.A.", 2), ("Navient Solutions, LLC.", 1),
                ("PayPal Holdings, Inc.", 1)],
    "State": [(s, w) for s, w in (("FL", 14), ("TX", 11), ("CA", 9), ("GA", 8), ("NY", 6), ("IL", 4), ("PA", 4),
                                  ("NC", 4), ("NJ", 3), ("OH", 3), ("MD", 3), ("VA", 3), ("MI", 2), ("AZ", 2),
                                  ("WA", 2), ("CO", 2), ("", 1))],
    "ZIP code": [("30349", 1), ("33614", 1), ("601XX", 1), ("77084", 1), ("XXXXX", 1), ("90011", 1), ("10025", 1)],
    "Tags": [("", 94), ("Servicemember", 4), ("Older American", 2), ("Older American, Servicemember", 1)],
    "Submitted via": [("Web", 92), ("Phone", 3), ("Referral", 2), ("Postal mail", 1), ("Email", 1), ("Fax", 1)],
    "Company public response": [("", 63), ("Company has responded to the consumer and the CFPB and chooses not "
                                           "to provide a public response", 35),
                                ("Company believes it acted appropriately as authorized by contract or law", 2)],
    "Company response to consumer": [("Closed with non-monetary relief", 37), ("Closed with explanation", 31),
                                     ("In progress", 30), ("Closed with monetary relief", 2)],
    "Timely response?": [("Yes", 97), ("No", 3)],
    "Consumer disputed?": [("N/A", 99), ("No", 1)],
    "Consumer consent provided?": [("", 70), ("Consent not provided", 18), ("Other", 10),
                                   ("Consent withdrawn", 2)],
}
BUILTIN_NARRATIVES = [
    "I have disputed the account on my credit report several times. The information is not mine and the "
    "bureau keeps verifying it without any proof. XXXX XXXX is reporting a balance of {$2300.00} that I do not owe.",
    "On XX/XX/2023 I noticed a charge I did not authorize. I called the bank and they refused to reverse it. "
    "I have been a customer for years and this is unacceptable.",
    "A debt collector keeps calling me at work about a debt that is not mine. I asked them to validate the debt "
    "and they never sent anything. They continue to report it to the credit bureaus.",
    "My mortgage payment was applied late even though I paid on time. Now I am being charged late fees and my "
    "credit score dropped.",
    "I sent money through the app to the wrong person because of a scam. The company says they cannot help me.",
]


def _weighted(counter: Counter) -> tuple[list, list[int]]:
    items = sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))  # stable order -> reproducible draws
    return [k for k, _ in items], [w for _, w in items]


class ValuePools:
    """Weighted value pools per column; ``source`` says where they came from."""

    def __init__(self, sample: Path | None):
        rows = self._read(sample) if sample else None
        if rows:
            self.source = f"{sample} ({len(rows)} rows)"
            self.taxonomy = _weighted(Counter((r["Product"], r["Sub-product"], r["Issue"], r["Sub-issue"])
                                              for r in rows))
            self.columns = {col: _weighted(Counter(r[col] for r in rows)) for col in BUILTIN}
            narratives = sorted({r["Consumer complaint narrative"] for r in rows if r["Consumer complaint narrative"]})
            self.narratives = narratives or BUILTIN_NARRATIVES
            # the real file only has a narrative when consent was given
            consent = Counter(r["Consumer consent provided?"] for r in rows if not r["Consumer complaint narrative"])
            self.columns["Consumer consent provided?"] = _weighted(consent)
        else:
            self.source = "built-in lists (no sample file)"
            self.taxonomy = ([t for t, _ in BUILTIN_TAXONOMY], [w for _, w in BUILTIN_TAXONOMY])
            self.columns = {col: ([v for v, _ in vals], [w for _, w in vals]) for col, vals in BUILTIN.items()}
            self.narratives = BUILTIN_NARRATIVES

    @staticmethod
    def _read(path: Path) -> list[dict] | None:
        if not path.exists():
            return None
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or not set(HEADER) <= set(reader.fieldnames):
                return None
            return list(reader)


def write_csv(path: Path, n: int, pools: ValuePools, seed: int, narrative_share: float = 0.2) -> None:
    """``n`` rows; the same seed gives the same rows, and a smaller file is a prefix of a bigger one."""
    rng = random.Random(seed)
    start = date(2023, 1, 1)
    tax_v, tax_w = pools.taxonomy
    col = {c: pools.columns[c] for c in BUILTIN}

    def pick(name: str) -> str:
        values, weights = col[name]
        return rng.choices(values, weights)[0]

    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for i in range(n):
            received = start + timedelta(days=rng.randrange(365))
            sent = received + timedelta(days=rng.choices((0, 1, 2, 3, 5), (70, 20, 6, 3, 1))[0])
            product, sub_product, issue, sub_issue = rng.choices(tax_v, tax_w)[0]
            has_text = rng.random() < narrative_share
            w.writerow([
                received.isoformat(), product, sub_product, issue, sub_issue,
                rng.choice(pools.narratives) if has_text else "",
                pick("Company public response"), pick("Company"), pick("State"), pick("ZIP code"), pick("Tags"),
                "Consent provided" if has_text else pick("Consumer consent provided?"),
                pick("Submitted via"), sent.isoformat(), pick("Company response to consumer"),
                pick("Timely response?"), pick("Consumer disputed?"),
                str(8_000_000 + i),  # unique Complaint ID
            ])


# ------------------------------------------------------------------ databases

class FreshDatabase:
    """A migrated, empty database: a new SQLite file, or a new PostgreSQL schema dropped on exit."""

    def __init__(self, url: str | None, workdir: Path, label: str):
        self.url, self.workdir, self.label = url, workdir, label
        self.admin = None
        self.schema: str | None = None
        self.path: Path | None = None

    def __enter__(self):
        from sqlalchemy import text

        from models import migrate
        from models.db import make_engine

        if self.url is None:
            self.path = self.workdir / f"{self.label}-{uuid.uuid4().hex[:8]}.db"
            self.engine = make_engine(f"sqlite:///{self.path}")
        else:
            self.schema = f"cl_bench_{self.label.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
            self.admin = make_engine(self.url)
            with self.admin.begin() as c:
                c.execute(text(f'CREATE SCHEMA "{self.schema}"'))
            sep = "&" if "?" in self.url else "?"
            self.engine = make_engine(f"{self.url}{sep}options=-csearch_path%3D{self.schema}")
        migrate.upgrade(self.engine)
        return self.engine

    def counts(self) -> dict[str, int]:
        from sqlalchemy import text

        with self.engine.connect() as c:
            return {t: c.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in ("complaint", "task", "transition", "message")}

    def __exit__(self, *exc):
        from sqlalchemy import text

        self.engine.dispose()
        if self.admin is not None:
            with self.admin.begin() as c:
                c.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            self.admin.dispose()
        if self.path is not None:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        return False


# ------------------------------------------------------------------ one measurement (runs in a subprocess)

def measure(mode: str, csv_path: Path, url: str | None, batch_size: int, trace: bool, workdir: Path) -> dict:
    from sqlalchemy import insert

    from closeloop.clock import FixedClock
    from closeloop.config import load_config
    from closeloop.domain.complaint import ComplaintStatus
    from closeloop.services.intake.importing import import_file
    from integrations.exports import ParsedRow, read_export
    from models.db import make_sessions
    from models.tables import Complaint

    config = load_config()
    clock = FixedClock(NOW)
    out: dict = {"mode": mode, "traced": trace}
    db = FreshDatabase(url, workdir, mode)
    with db as engine:
        if mode == "import":
            sessions = make_sessions(engine)
            gc.collect()
            out["rss_before_mib"] = maxrss_mib()
            if trace:
                tracemalloc.start()
            t0, c0 = time.perf_counter(), _cpu()
            report = import_file(sessions, config, clock, csv_path, batch_size=batch_size)
            out["seconds"], out["cpu_s"] = time.perf_counter() - t0, _cpu() - c0
            out["rows"] = report.rows
            out["report"] = {k: getattr(report, k) for k in ("created", "rejected", "duplicates", "fallback",
                                                              "likely_duplicates", "tasks", "bad_rows", "committed")}
        else:
            # already parsed (outside the timing and the tracing), minimal columns filled
            rows = []
            for item in read_export(csv_path):
                assert isinstance(item, ParsedRow), item
                f = item.facts
                rows.append({"source": f.source, "external_ref": f.external_ref,
                             "status": ComplaintStatus.TRIAGED.value, "severity": "P3",
                             "category": f.category[:255], "product": f.product[:255], "issue": f.issue[:255],
                             "channel": f.channel[:64], "company": f.company[:255], "region": f.region[:64],
                             "received_at": f.received_at, "created_at": NOW, "updated_at": NOW, "version": 1})
            table = Complaint.__table__
            gc.collect()
            out["rss_before_mib"] = maxrss_mib()
            if trace:
                tracemalloc.start()
            t0, c0 = time.perf_counter(), _cpu()
            with engine.begin() as conn:
                for i in range(0, len(rows), batch_size):
                    conn.execute(insert(table), rows[i:i + batch_size])
            out["seconds"], out["cpu_s"] = time.perf_counter() - t0, _cpu() - c0
            out["rows"] = len(rows)
        if trace:
            out["peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        out["maxrss_mib"] = maxrss_mib()
        out["db_counts"] = db.counts()
    return out


def _cpu() -> float:
    """This process's user + system CPU seconds (the database server's, for PostgreSQL, not included)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def run_in_subprocess(mode: str, csv_path: Path, url: str | None, batch_size: int, trace: bool,
                      workdir: Path) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", mode, "--csv", str(csv_path),
           "--batch-size", str(batch_size), "--workdir", str(workdir)]
    if url:
        cmd += ["--database-url", url]
    if trace:
        cmd.append("--trace")
    return run_worker(cmd, mode)


# ------------------------------------------------------------------ main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000", help="comma-separated row counts (default 10000,100000)")
    ap.add_argument("--database-url", default=None,
                    help="PostgreSQL URL (a fresh schema per measurement, dropped after); default: "
                         "a fresh SQLite file per measurement in the temp dir")
    ap.add_argument("--batch-size", type=int, default=1000, help="import_file batch_size (default 1000)")
    ap.add_argument("--trace-mode", choices=("separate", "same"), default="separate",
                    help="separate: time an untraced pass, take the tracemalloc peak from a second traced pass "
                         "(default); same: one traced pass gives both (faster, slower timings)")
    ap.add_argument("--seed", type=int, default=20230101)
    ap.add_argument("--sample", type=Path, default=SAMPLE, help=f"CFPB sample to draw values from (default {SAMPLE})")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (CSV files) and print its path")
    # internal: one measurement in this process
    ap.add_argument("--worker", choices=("import", "baseline"), help=argparse.SUPPRESS)
    ap.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    url = a.database_url
    if url and url.startswith("sqlite"):
        ap.error("--database-url: give a PostgreSQL URL; SQLite (the default) always uses fresh temp files")

    if a.worker:
        print(json.dumps(measure(a.worker, a.csv, url, a.batch_size, a.trace, a.workdir), default=str))
        return 0

    sizes = [int(s.replace("_", "")) for s in a.sizes.split(",") if s.strip()]
    pools = ValuePools(a.sample)
    workdir = Path(tempfile.mkdtemp(prefix="closeloop-bench-"))
    try:
        return _run(a, url, sizes, pools, workdir)
    finally:
        if a.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(a: argparse.Namespace, url: str | None, sizes: list[int], pools: ValuePools, workdir: Path) -> int:
    backend = "PostgreSQL " + url.split("@")[-1] if url else "SQLite (fresh file per run)"
    print(f"closeloop import benchmark: backend {backend}; batch size {a.batch_size}; "
          f"Python {sys.version.split()[0]}; values from {pools.source}; seed {a.seed}")

    results: list[dict] = []
    for n in sizes:
        path = workdir / f"cfpb_synthetic_{n}.csv"
        t0 = time.perf_counter()
        write_csv(path, n, pools, a.seed)
        print(f"  wrote {path.name}: {n} rows, {path.stat().st_size / 2**20:.1f} MiB "
              f"in {time.perf_counter() - t0:.1f}s", flush=True)
        for mode in ("import", "baseline"):
            if a.trace_mode == "same":
                r = run_in_subprocess(mode, path, url, a.batch_size, True, workdir)
            else:
                r = run_in_subprocess(mode, path, url, a.batch_size, False, workdir)
                if "error" not in r:
                    traced = run_in_subprocess(mode, path, url, a.batch_size, True, workdir)
                    r["peak_mib"] = traced.get("peak_mib")
                    r["traced_seconds"] = traced.get("seconds")
                    r["traced_maxrss_mib"] = traced.get("maxrss_mib")
            r["size"] = n
            results.append(r)
            if "error" in r:
                print(f"  {n} {mode}: FAILED: {r['error']}", flush=True)
                sys.stderr.write(r.get("stderr", ""))
            else:
                extra = f"; report {r['report']}" if mode == "import" else ""
                print(f"  {n} {mode}: {r['seconds']:.2f}s; db rows {r['db_counts']}{extra}", flush=True)

    _print_table(results, a.trace_mode)
    return 0


def _print_table(results: list[dict], trace_mode: str) -> None:
    print()
    print(f"load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())} (1 / 5 / 15 min) at the end")
    head = (f"{'size':>8}  {'mode':<9} {'seconds':>8} {'rows/s':>9} {'CPU s':>6} {'rows/CPU-s':>10} "
            f"{'peak MiB':>9} {'maxRSS MiB':>11} {'RSS +MiB':>9}")
    print(head)
    print("-" * len(head))
    for r in results:
        if "error" in r:
            print(f"{r['size']:>8}  {r['mode']:<9} FAILED: {r['error']}")
            continue
        rate = r["rows"] / r["seconds"] if r["seconds"] else None
        cpu = r.get("cpu_s")
        per_cpu = r["rows"] / cpu if cpu else None
        print(f"{r['size']:>8}  {r['mode']:<9} {r['seconds']:>8.2f} {fmt(rate, ',.0f'):>9} {fmt(cpu, '.2f'):>6} "
              f"{fmt(per_cpu, ',.0f'):>10} "
              f"{fmt(r.get('peak_mib'), '.1f'):>9} {r['maxrss_mib']:>11.1f} "
              f"{r['maxrss_mib'] - r['rss_before_mib']:>9.1f}")
    print()
    print("CPU s: the importing process's user + system time (PostgreSQL's server processes not counted); "
          "rows/CPU-s is the rate on an otherwise idle core")
    print("seconds, rows/s, maxRSS: untraced pass" if trace_mode == "separate" else
          "all figures from one tracemalloc-traced pass (timings include tracing overhead)")
    print("peak MiB: tracemalloc peak during the import/insert only (baseline rows were parsed before tracing); "
          "RSS +MiB: max RSS growth over the RSS before the import/insert")

    imports = [r for r in results if r["mode"] == "import" and "error" not in r and r.get("peak_mib")]
    if len(imports) >= 2:
        small, big = min(imports, key=lambda r: r["size"]), max(imports, key=lambda r: r["size"])
        ratio = big["peak_mib"] / small["peak_mib"]
        rss_ratio = ((big["maxrss_mib"] - big["rss_before_mib"]) / (small["maxrss_mib"] - small["rss_before_mib"])
                     if small["maxrss_mib"] > small["rss_before_mib"] else None)
        print(f"memory flat: import peak {big['peak_mib']:.1f} MiB at {big['size']} vs {small['peak_mib']:.1f} MiB "
              f"at {small['size']} -> ratio {ratio:.2f} ({'within' if ratio <= 1.5 else 'NOT within'} 1.5x); "
              f"max RSS growth ratio {fmt(rss_ratio, '.2f')}")


if __name__ == "__main__":
    sys.exit(main())
