"""Sweep beside django-helpdesk (issue 17): ``escalate_tickets`` and closeloop's sweep on the same number due.

Issue 17's target: the sweep at least 50x faster than django-helpdesk's ``escalate_tickets`` management
command on the same number due. Two sides, one run:

- **peer**: a separate virtualenv (``--venv``; created when missing, never the project's) with the pinned
  :data:`PINS` (django-helpdesk 2.6.1 on Django 5.2). In a process of that venv: a minimal Django project
  (settings in code, SQLite file in the temp dir, only the apps the command needs: auth, contenttypes,
  sites, helpdesk), migrated; ``--tickets`` tickets bulk-created (``bulk_create``) in seven queues, exactly
  ``--due`` of them due by the command's rule (below), each with a submitter address; then, in a fresh
  process, ``call_command("escalate_tickets")`` timed (wall and CPU seconds of that call), e-mail through
  Django's in-memory backend (rendered, not sent). Afterwards exactly the due tickets must carry one
  "Ticket Escalated" follow-up, one priority change and a priority one lower, and nothing else may have
  changed: anything else stops the bench (exit status 1).
- **closeloop**: ``bench/sweep.py``'s database (its builder, ``--due-fraction`` = due / tickets, so exactly
  ``--due`` of ``--tickets`` open complaints are due; ``--base FILE`` keeps and reuses the built file) and its
  sweep worker's first sweep, ``closeloop.services.engine.sweep.sweep`` at the builder's instant (the worker
  then runs its two short passes, not counted here), twice, each on a fresh copy of the file: **the same
  number due** (the target's comparison: every passed timer but the ``--due`` earliest escalations is first
  moved a year past the sweep's instant, so exactly ``--due`` escalation timers are due among the same
  pending ones) and **the catch-up** (the file as built; far more work than the peer's, for scale).

What "due" means on each side. django-helpdesk 2.6.1 (``helpdesk/management/commands/escalate_tickets.py``):
for each queue with ``escalate_days`` set and not 0, ``days`` = the dates from ``today - escalate_days`` to
yesterday not listed as an ``EscalationExclusion`` (none here: ``days = escalate_days``); a ticket of the queue
is escalated once (priority - 1, ``last_escalation = now``, ``save()``, an e-mail per recipient, a follow-up and
a ticket change) when its status is open or reopened, its priority is not 1, it is not ``on_hold`` and
``last_escalation`` (or ``created`` when it was never escalated) is at or before ``now - days``. "Now" is the
real clock (``timezone.now()``): the tickets' instants are built from the real now at build time, every one
at least :data:`MARGIN` away from its queue's threshold, so the same tickets are due while the command runs
within that margin of the build (checked). The not-due tickets are fresh, closed or resolved, on hold,
priority 1, escalated lately, or in a queue without escalation. closeloop's catch-up: a due complaint was
created weeks ago and never swept (``bench/sweep.py``'s catch-up): every timer of its three tasks has passed (reminders,
acknowledgement pages, escalation levels 1-3 or 1-4, promise notices), so the sweep fires about 37 timers
per due complaint, of which 9-12 escalations, renders the notifications and packs the digests.

    python bench/peer_helpdesk.py                                  # 100,000 tickets and complaints, 5,000 due
    python bench/peer_helpdesk.py --tickets 10000 --due 500
    python bench/peer_helpdesk.py --venv /tmp/helpdesk-venv --base /tmp/sweep-100000-5000.db

Figures only: nothing is asserted about the ratio. Fixed ``--seed``: the same tickets and complaints each run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import fmt  # noqa: E402

#: The peer's virtualenv, every distribution pinned (``pip freeze`` of a fresh install of django-helpdesk 2.6.1).
PINS = ("django-helpdesk==2.6.1", "Django==5.2.19", "asgiref==3.13.0", "beautifulsoup4==4.15.0",
        "django-cleanup==9.0.0", "django-model-utils==5.0.0", "djangorestframework==3.18.3",
        "email-reply-parser==0.5.12", "Markdown==3.11.3", "nh3==0.3.8", "oauthlib==4.0.1", "requests==2.34.2",
        "requests-oauthlib==2.0.0", "soupsieve==4.1.4", "sqlparse==0.6.1", "typing_extensions==4.16.0",
        "certifi==2026.10.19.post1", "charset-normalizer==3.5.3", "idna==3.20", "urllib3==2.8.0")
TARGET = 50.0  # issue 17: the sweep at least 50x faster than escalate_tickets
# (slug, escalate_days): escalate_days None or 0 means the command skips the queue
QUEUES = (("billing", 1), ("accounts", 2), ("cards", 3), ("loans", 5), ("mortgage", 7), ("general", None),
          ("archive", 0))
MARGIN = timedelta(hours=2)  # every instant at least this far from its queue's threshold
# why a ticket is not due, with weights: (reason, weight)
NOT_DUE = (("fresh", 60), ("closed", 10), ("on_hold", 8), ("priority_1", 6), ("escalated_lately", 8),
           ("no_escalation", 8))
OPEN, REOPENED, RESOLVED, CLOSED, DUPLICATE = 1, 2, 3, 4, 5  # helpdesk's default TICKET_STATUS_CHOICES


# ------------------------------------------------------------------ the peer's virtualenv (runs in this process)

def ensure_venv(venv: Path) -> Path:
    """The peer venv's python, with :data:`PINS` installed (created, or fixed, when they are not)."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"  creating the peer virtualenv {venv}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    if _venv_versions(python) != _pinned():
        print(f"  installing {' '.join(PINS[:2])} (+ {len(PINS) - 2} pinned dependencies) into {venv}", flush=True)
        pip = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PINS],
                             capture_output=True, text=True)
        if pip.returncode != 0:
            sys.stderr.write(pip.stdout + pip.stderr)
            raise SystemExit(f"bench: pip install into {venv} FAILED")
        if _venv_versions(python) != _pinned():
            raise SystemExit(f"bench: {venv} does not hold the pinned versions after pip install")
    return python


def _pinned() -> dict:
    return {name.lower(): version for name, version in (p.split("==") for p in PINS)}


def _venv_versions(python: Path) -> dict:
    code = ("import importlib.metadata as m, json, sys; out = {}\n"
            "for n in sys.argv[1:]:\n"
            "    try: out[n] = m.version(n)\n"
            "    except m.PackageNotFoundError: pass\n"
            "print(json.dumps(out))")
    proc = subprocess.run([str(python), "-c", code, *_pinned()], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def run_peer(python: Path, mode: str, args: list[str]) -> dict:
    """One peer step in a fresh process of the peer venv (no project path: only the stdlib and Django)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    proc = subprocess.run([str(python), str(Path(__file__).resolve()), "--worker", mode, *args],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"bench: peer step {mode} FAILED: "
                         + (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1])
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ the peer's side (runs in the peer venv)

def _django_setup(db: Path) -> None:
    import django
    from django.conf import settings

    urls = db.parent / "peer_helpdesk_urls.py"
    urls.write_text('from django.urls import include, path\n\n'
                    'urlpatterns = [path("helpdesk/", include("helpdesk.urls", namespace="helpdesk"))]\n')
    sys.path.insert(0, str(db.parent))
    settings.configure(
        DEBUG=False, SECRET_KEY="bench", USE_TZ=True, TIME_ZONE="UTC", SITE_ID=1, ROOT_URLCONF="peer_helpdesk_urls",
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(db)}},
        INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sites",
                        "django.contrib.humanize", "helpdesk"],
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
        DEFAULT_AUTO_FIELD="django.db.models.AutoField", HELPDESK_TEAMS_MODE_ENABLED=False,
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend", DEFAULT_FROM_EMAIL="helpdesk@example.com",
        LOGGING_CONFIG=None)
    django.setup()


def ticket_plan(n: int, due: int, seed: int, now: datetime) -> tuple[list[dict], list[int]]:
    """Every ticket's fields (ids 1..n) and the ids due for escalation at ``now`` (exactly ``due`` of them)."""
    rng = random.Random(seed)
    due_ids = sorted(rng.sample(range(1, n + 1), due))
    due_set = set(due_ids)
    escalating = [i for i, (_, days) in enumerate(QUEUES) if days]
    reasons, weights = [r for r, _ in NOT_DUE], [w for _, w in NOT_DUE]
    rows = []
    for tid in range(1, n + 1):
        q = rng.choice(escalating)
        threshold = now - timedelta(days=QUEUES[q][1])  # the command's now - days (no exclusions)
        old = threshold - MARGIN - timedelta(days=rng.uniform(0, 30))
        row = {"id": tid, "queue": q, "status": rng.choice((OPEN, REOPENED)), "priority": rng.randint(2, 5),
               "on_hold": False, "created": old, "last_escalation": None}
        if tid in due_set:
            if rng.random() < 0.3:  # escalated before, long enough ago
                row["last_escalation"] = threshold - MARGIN * rng.uniform(1, 10)
        else:
            reason = rng.choices(reasons, weights)[0]
            span = (now - threshold - MARGIN).total_seconds()
            recent = now - timedelta(seconds=rng.uniform(0, span))
            if reason == "fresh":
                row["created"] = recent
            elif reason == "closed":
                row["status"] = rng.choice((RESOLVED, CLOSED, DUPLICATE))
            elif reason == "on_hold":
                row["on_hold"] = True
            elif reason == "priority_1":
                row["priority"] = 1
            elif reason == "escalated_lately":
                row["last_escalation"] = recent
            else:
                row["queue"] = rng.choice([i for i, (_, days) in enumerate(QUEUES) if not days])
        rows.append(row)
    return rows, due_ids


def peer_build(db: Path, n: int, due: int, seed: int) -> dict:
    """Migrate a fresh SQLite file and bulk-create the tickets of :func:`ticket_plan`."""
    t0 = time.perf_counter()
    _django_setup(db)
    from django.core.management import call_command
    from django.db import transaction
    from helpdesk.models import Queue, Ticket

    call_command("migrate", verbosity=0)
    migrated = time.perf_counter() - t0
    now = datetime.now(UTC)
    rows, due_ids = ticket_plan(n, due, seed, now)
    for name in ("created", "modified"):  # bulk_create would stamp them with the real now (this process only)
        field = Ticket._meta.get_field(name)
        field.auto_now = field.auto_now_add = False
    with transaction.atomic():
        queues = [Queue.objects.create(title=slug.title(), slug=slug, escalate_days=days,
                                       email_address=f"{slug}@helpdesk.example.com") for slug, days in QUEUES]
        Ticket.objects.bulk_create(
            (Ticket(id=r["id"], title=f"Complaint {r['id']}", queue=queues[r["queue"]], created=r["created"],
                    modified=r["last_escalation"] or r["created"], submitter_email=f"customer{r['id']}@example.com",
                    status=r["status"], on_hold=r["on_hold"], description="The fee was charged twice.",
                    priority=r["priority"], last_escalation=r["last_escalation"], secret_key=f"{r['id']:036d}")
             for r in rows), batch_size=2000)
    (db.parent / "due.json").write_text(json.dumps({"now": now.isoformat(), "due": due_ids}))
    return {"tickets": Ticket.objects.count(), "due": len(due_ids), "migrate_seconds": migrated,
            "seconds": time.perf_counter() - t0, "db_mib": db.stat().st_size / 2**20}


def peer_escalate(db: Path) -> dict:
    """Time ``call_command("escalate_tickets")``; then check it escalated exactly the planned tickets."""
    _django_setup(db)
    import django
    import helpdesk
    from django.core import mail
    from django.core.management import call_command
    from helpdesk.models import Ticket

    plan = json.loads((db.parent / "due.json").read_text())
    age = datetime.now(UTC) - datetime.fromisoformat(plan["now"])
    if age >= MARGIN:
        raise SystemExit(f"bench: the peer's tickets were built {age} ago, more than the {MARGIN} margin")
    before = {t: (p, e) for t, p, e in Ticket.objects.values_list("id", "priority", "last_escalation")}
    mail.outbox = []
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    call_command("escalate_tickets")
    secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    load1 = os.getloadavg()[0]
    checks = _check_escalated(before, set(plan["due"]))
    return {"seconds": secs, "cpu_seconds": cpu, "load": (load0, load1), "emails": len(mail.outbox), **checks,
            "versions": {"django-helpdesk": getattr(helpdesk, "__version__", None) or _dist("django-helpdesk"),
                         "Django": django.get_version(), "SQLite": _sqlite_version()}}


def _check_escalated(before: dict, due: set[int]) -> dict:
    """Exactly the due tickets escalated once: one follow-up, one priority change, priority one lower."""
    from helpdesk.models import FollowUp, Ticket, TicketChange

    after = {t: (p, e) for t, p, e in Ticket.objects.values_list("id", "priority", "last_escalation")}
    followups = list(FollowUp.objects.filter(title="Ticket Escalated").values_list("ticket_id", flat=True))
    changes = list(TicketChange.objects.filter(field="Priority").values_list("followup__ticket_id", flat=True))
    lowered = {t for t, (p, _) in after.items() if p == before[t][0] - 1}
    changed = {t for t, (p, _) in after.items() if p != before[t][0]}
    stamped = {t for t, (_, e) in after.items() if e != before[t][1]}
    out = {"followups": len(followups), "priority_changes": len(changes), "priorities_lowered": len(lowered),
           "escalated_tickets": len(set(followups))}
    bad = []
    if sorted(followups) != sorted(due):
        bad.append(f"follow-ups on {len(followups)} tickets ({len(set(followups) - due)} not due)")
    if sorted(changes) != sorted(due):
        bad.append(f"{len(changes)} priority changes")
    if lowered != due or changed != due or stamped != due:
        bad.append(f"priority lowered on {len(lowered)}, changed on {len(changed)}, last_escalation set on "
                   f"{len(stamped)} tickets")
    if bad:
        raise SystemExit(f"bench: escalate_tickets did not escalate exactly the {len(due):,} due tickets: "
                         + "; ".join(bad))
    return out


def _dist(name: str) -> str:
    import importlib.metadata

    return importlib.metadata.version(name)


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


# ------------------------------------------------------------------ closeloop's side (bench/sweep.py's machinery)

def closeloop_side(a: argparse.Namespace, workdir: Path) -> dict:
    """``bench/sweep.py``'s database with exactly ``a.due`` of ``a.tickets`` complaints due, and its sweep worker's
    first sweep (in a subprocess, on a copy of the file)."""
    from sweep_data import Databases, compute_cohorts

    from closeloop.config import load_config

    config = load_config()
    ns = argparse.Namespace(complaints=a.tickets, due_fraction=a.due / a.tickets, seed=a.seed, batch=a.batch,
                            repeats=1, no_policy=True, profile=None)
    dbs = Databases(None, workdir, config, ns, compute_cohorts(config))
    dbs.prepare_sqlite_base(a.base.resolve() if a.base is not None else None)
    due = _closeloop_due(dbs.base)
    print(f"  closeloop database {dbs.base} ({dbs.base.stat().st_size / 2**20:.0f} MiB, built in "
          f"{dbs.build_seconds[-1]:.1f}s): {due['complaints']:,} complaints, {due['due_complaints']:,} due with "
          f"{due['due_timers']:,} pending timers passed ({due['due_escalations']:,} escalations)", flush=True)
    if (due["complaints"], due["due_complaints"]) != (a.tickets, a.due):
        raise SystemExit(f"bench: the closeloop database has {due['due_complaints']:,} of {due['complaints']:,} "
                         f"complaints due, not {a.due:,} of {a.tickets:,} (a --base file built with other sizes?)")
    catch_up = _one_sweep(dbs, ns, keep_escalations=None)
    steady = _one_sweep(dbs, ns, keep_escalations=a.due)
    return {**catch_up, **due, "steady": steady}


def _one_sweep(dbs, ns: argparse.Namespace, keep_escalations: int | None) -> dict:
    """The sweep worker's first sweep on a copy of the built file. ``keep_escalations`` (the steady case): only
    that many due timers stay due, the earliest escalations; every other passed timer is first moved a year
    past the sweep's instant (same database, same 2.3 million pending timers): exactly the peer's number due."""
    from sweep import run_in_subprocess

    url, drop = dbs.new("sweep")
    try:
        if keep_escalations is not None:
            _keep_due_escalations(url, keep_escalations)
        r = run_in_subprocess("sweep", url, ns)
    finally:
        drop()
    if "error" in r:
        sys.stderr.write(r.get("stderr", ""))
        raise SystemExit(f"bench: closeloop's sweep FAILED: {r['error']}")
    return r["passes"]["sweep 1 (catch-up)"]


def _keep_due_escalations(url: str, keep: int) -> None:
    """Leave due (at the builder's instant) only the ``keep`` earliest escalation timers of the database at
    ``url``; move every other passed pending timer to 365 days after it."""
    from datetime import timedelta

    from sqlalchemy import select, update
    from sweep_data import NOW

    from models.db import make_engine
    from models.tables import Timer

    due = (Timer.status == "pending") & (Timer.fire_at <= NOW)
    kept = (select(Timer.id).where(due, Timer.kind == "escalation").order_by(Timer.fire_at, Timer.id)
            .limit(keep).scalar_subquery())
    engine = make_engine(url)
    try:
        with engine.begin() as c:
            moved = c.execute(update(Timer).where(due, Timer.id.not_in(kept))
                              .values(fire_at=NOW + timedelta(days=365))).rowcount
            left = c.execute(select(Timer.id).where(due)).all()
    finally:
        engine.dispose()
    if len(left) != keep:
        raise SystemExit(f"bench: {len(left):,} timers left due, not {keep:,} ({moved:,} moved)")


def _closeloop_due(path: Path) -> dict:
    """Complaints, and the complaints and pending timers due at the builder's instant, read from the file."""
    from sqlalchemy import func, select
    from sweep_data import NOW

    from models.db import make_engine
    from models.tables import Complaint, Timer

    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as c:
            due = (Timer.fire_at <= NOW) & (Timer.status == "pending")
            kinds = dict(c.execute(select(Timer.kind, func.count()).where(due).group_by(Timer.kind)).all())
            return {"complaints": c.execute(select(func.count()).select_from(Complaint)).scalar_one(),
                    "due_complaints": c.execute(select(func.count(func.distinct(Timer.complaint_id)))
                                                .where(due)).scalar_one(),
                    "due_timers": sum(kinds.values()), "due_escalations": kinds.get("escalation", 0)}
    finally:
        engine.dispose()


def _closeloop_versions() -> dict:
    import sqlite3

    import sqlalchemy

    return {"Python": sys.version.split()[0], "SQLAlchemy": sqlalchemy.__version__, "SQLite": sqlite3.sqlite_version}


# ------------------------------------------------------------------ main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tickets", type=int, default=100_000,
                    help="helpdesk tickets, and closeloop open complaints with 3 tasks each (default 100000)")
    ap.add_argument("--due", type=int, default=5_000, help="of them due for escalation (default 5000)")
    ap.add_argument("--seed", type=int, default=20260304, help="both sides' data (default: bench/sweep.py's)")
    ap.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "closeloop-peer-helpdesk-venv",
                    help="the peer's virtualenv, created when missing (default: in the temp dir)")
    ap.add_argument("--base", type=Path, default=None,
                    help="closeloop's built SQLite file to reuse (built there first when missing; as bench/sweep.py "
                         "--base, checked against --tickets and --due)")
    ap.add_argument("--batch", type=int, default=500, help="sweep(batch=...) (default 500, the sweep's own)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (both SQLite files) and print its path")
    # internal: one peer step in a process of the peer venv
    ap.add_argument("--worker", choices=("peer-build", "peer-escalate"), help=argparse.SUPPRESS)
    ap.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a.worker == "peer-build":
        print(json.dumps(peer_build(a.db, a.tickets, a.due, a.seed)))
        return 0
    if a.worker == "peer-escalate":
        print(json.dumps(peer_escalate(a.db), default=str))
        return 0
    if not 0 < a.due <= a.tickets:
        ap.error("--due must be within 1..--tickets")
    workdir = Path(tempfile.mkdtemp(prefix="closeloop-bench-peer-helpdesk-"))
    try:
        return _run(a, workdir)
    finally:
        if a.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(a: argparse.Namespace, workdir: Path) -> int:
    print(f"sweep beside django-helpdesk: {a.tickets:,} tickets / complaints, {a.due:,} due; seed {a.seed}; "
          f"load {os.getloadavg()[0]:.2f}", flush=True)
    python = ensure_venv(a.venv.resolve())
    peer_dir = workdir / "helpdesk"
    peer_dir.mkdir()
    db = ["--db", str(peer_dir / "helpdesk.sqlite3")]
    built = run_peer(python, "peer-build", [*db, "--tickets", str(a.tickets), "--due", str(a.due),
                                            "--seed", str(a.seed)])
    print(f"  helpdesk database: {built['tickets']:,} tickets ({built['due']:,} due), migrated in "
          f"{built['migrate_seconds']:.1f}s, built in {built['seconds']:.1f}s, {built['db_mib']:.0f} MiB", flush=True)
    peer = run_peer(python, "peer-escalate", db)
    print(f"  escalate_tickets: {peer['seconds']:.1f}s, checked: {peer['escalated_tickets']:,} tickets escalated",
          flush=True)
    (workdir / "closeloop").mkdir()
    ours = closeloop_side(a, workdir / "closeloop")
    print_table(a, peer, ours)
    return 0


def _did(rep: dict) -> str:
    return (f"{sum(rep['fired'].values()):,} timers fired ({rep['fired'].get('escalation', 0):,} escalations), "
            f"{rep['notifications']:,} notifications, {rep['messages']:,} digests")


def print_table(a: argparse.Namespace, peer: dict, ours: dict) -> None:
    rep, steady = ours["report"], ours["steady"]
    fired = sum(rep["fired"].values())
    rows = [
        ("django-helpdesk escalate_tickets", f"{a.due:,} of {a.tickets:,} tickets", peer,
         f"{peer['escalated_tickets']:,} tickets escalated once, {peer['followups']:,} follow-ups, "
         f"{peer['priority_changes']:,} priority changes, {peer['emails']:,} e-mails"),
        ("closeloop sweep, same number due", f"{a.due:,} escalation timers", steady, _did(steady["report"])),
        ("closeloop catch-up (bench/sweep.py)", f"{ours['due_complaints']:,} of {ours['complaints']:,} complaints",
         ours, _did(rep)),
    ]
    print()
    head = f"{'side':<34} {'due':<28} {'seconds':>8} {'CPU s':>7} {'load':>9}  what it did"
    print(head)
    print("-" * len(head))
    for name, due, r, did in rows:
        load = "{:.1f}-{:.1f}".format(*r["load"])
        print(f"{name:<34} {due:<28} {r['seconds']:>8.2f} {r['cpu_seconds']:>7.2f} {load:>9}  {did}")
    for label, r in (("the same number due (the target's comparison)", steady), ("the catch-up", ours)):
        wall = peer["seconds"] / r["seconds"] if r["seconds"] else None
        cpu = peer["cpu_seconds"] / r["cpu_seconds"] if r["cpu_seconds"] else None
        print(f"ratio peer / closeloop, {label}: wall {fmt(wall, '.1f')}x, CPU {fmt(cpu, '.1f')}x; target >= "
              f"{TARGET:.0f}x: met {'yes' if wall and wall >= TARGET else 'no'} (wall), "
              f"{'yes' if cpu and cpu >= TARGET else 'no'} (CPU)")
    print(f"per due item: helpdesk {peer['seconds'] * 1000 / a.due:.2f} ms per escalated ticket; closeloop "
          f"{ours['seconds'] * 1000 / a.due:.2f} ms per due complaint, {ours['seconds'] * 1e6 / max(fired, 1):.0f} us "
          f"per fired timer")
    pv, ov = peer["versions"], _closeloop_versions()
    print(f"versions: peer django-helpdesk {pv['django-helpdesk']}, Django {pv['Django']}, SQLite {pv['SQLite']} "
          f"(separate venv, pinned: {' '.join(PINS[:2])}); closeloop Python {ov['Python']}, SQLAlchemy "
          f"{ov['SQLAlchemy']}, SQLite {ov['SQLite']}")
    print("seconds / CPU s: the timed call only (escalate_tickets; the first sweep), each in its own process; "
          "load: 1-minute load average before-after")


if __name__ == "__main__":
    sys.exit(main())
