"""The ``closeloop`` command line (Typer + Rich). No business logic: it parses, calls a service, prints.

Database: ``CLOSELOOP_DATABASE_URL`` (default ``sqlite:///closeloop.db`` in the
working directory). Configuration: ``CLOSELOOP_CONFIG`` (default: the bundled one).
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from closeloop.bootstrap import App, build_app
from closeloop.config import ConfigError, load_config
from closeloop.domain.errors import DomainError
from closeloop.services import complaints as complaint_svc
from closeloop.services import tasks as task_svc
from closeloop.services.importing import ImportFailed, import_file
from closeloop.services.stats import stats as stats_svc
from closeloop.services.uow import unit_of_work
from models import migrate
from models.types import NaiveDatetimeError

app = typer.Typer(help="closeloop: hard customer complaints, across departments, until the loop is closed.",
                  no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
complaints_app = typer.Typer(help="Complaints: list, show, merge.", no_args_is_help=True)
tasks_app = typer.Typer(help="Department tasks: list, acknowledge, start, complete, transfer, cancel.",
                        no_args_is_help=True)
config_app = typer.Typer(help="Configuration files.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(complaints_app, name="complaints")
app.add_typer(tasks_app, name="tasks")
app.add_typer(config_app, name="config")

out = Console()
err = Console(stderr=True)


def _actor(actor: Optional[str]) -> str:
    if actor:
        return actor
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # pragma: no cover - no user database in some containers
        return "cli"


def _app(require_schema: bool = True) -> App:
    a = build_app()
    if require_schema and not migrate.is_up_to_date(a.engine):
        err.print(f"[red]The database at {a.engine.url.render_as_string(hide_password=True)} is not at the "
                  "current schema.[/red] Run [bold]closeloop db upgrade[/bold] first.")
        raise typer.Exit(2)
    return a


def _fail(exc: Exception, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {escape(str(exc))}")
    raise typer.Exit(code)


# ------------------------------------------------------------------ db
@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="target revision")) -> None:
    """Create or upgrade the schema (SQLite batch mode with a foreign-key check afterwards)."""
    a = _app(require_schema=False)
    migrate.upgrade(a.engine, revision)
    out.print(f"database at revision {migrate.current_revision(a.engine)}")


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="target revision, e.g. 'base' to drop everything")) -> None:
    """Revert the schema to REVISION ('base' removes every closeloop table and its data)."""
    a = _app(require_schema=False)
    migrate.downgrade(a.engine, revision)
    out.print(f"database at revision {migrate.current_revision(a.engine) or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database."""
    a = _app(require_schema=False)
    out.print(migrate.current_revision(a.engine) or "base")


# ------------------------------------------------------------------ import
@app.command("import")
def import_cmd(
    paths: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="export files (CSV or JSON Lines)"),
    fmt: str = typer.Option("auto", "--format", "-f",
                            help="auto, cfpb, nyc311, airline-tweets, zh-reviews, closeloop, jsonl"),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows",
                                       help="import the good rows and report the bad ones, instead of all-or-nothing"),
    config: Optional[Path] = typer.Option(None, "--config", help="configuration file (default: CLOSELOOP_CONFIG)"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Import complaint exports: triage, de-duplicate, route and create department tasks.

    All-or-nothing by default: if any row is bad (an unparseable date, a missing
    required field), every bad row is reported with its line, column and value,
    nothing is written, and the exit code is 1. With --skip-bad-rows the bad rows
    are reported and left out and all good rows land together. Importing the same
    file again adds nothing.
    """
    a = _app()
    try:
        cfg = load_config(config) if config else a.config
    except ConfigError as exc:
        _fail(exc, 2)
    reports = []
    for path in paths:
        total = max(1, sum(1 for _ in open(path, "rb")) - 1) if path.stat().st_size < 512 * 1024 * 1024 else None
        with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                      TextColumn("{task.completed:,} rows"), TimeElapsedColumn(),
                      console=err, disable=as_json or not err.is_terminal, transient=True) as progress:
            bar = progress.add_task(f"importing {path.name}", total=total)
            try:
                report = import_file(a.sessions, cfg, a.clock, path, fmt=fmt, skip_bad_rows=skip_bad_rows,
                                     batch_size=a.settings.import_batch_size,
                                     progress=lambda n: progress.update(bar, completed=n))
            except ImportFailed as exc:
                _print_errors(exc.report)
                if as_json:
                    print(json.dumps(exc.report.as_dict(), indent=2))
                _fail(exc)
            except (DomainError, NaiveDatetimeError) as exc:
                _fail(exc, 2)
        reports.append(report)
        if as_json:
            continue
        _print_errors(report)
        t = Table(title=f"import {path.name} ({report.format}, {report.mode})")
        t.add_column("rows read", justify="right")
        t.add_column("new complaints", justify="right")
        t.add_column("not complaints", justify="right")
        t.add_column("already present", justify="right")
        t.add_column("to triage queue", justify="right")
        t.add_column("likely duplicates", justify="right")
        t.add_column("tasks", justify="right")
        t.add_column("bad rows", justify="right")
        t.add_row(*(f"{v:,}" for v in (report.rows, report.created, report.rejected, report.duplicates,
                                       report.fallback, report.likely_duplicates, report.tasks, report.bad_rows)))
        out.print(t)
    if as_json:
        print(json.dumps([r.as_dict() for r in reports] if len(reports) > 1 else reports[0].as_dict(), indent=2))


def _print_errors(report) -> None:
    for e in report.errors:
        err.print(f"[yellow]{escape(report.path)}[/yellow]: {escape(str(e))}")
    if report.bad_rows > len(report.errors):
        err.print(f"... and {report.bad_rows - len(report.errors)} more bad rows")


# ------------------------------------------------------------------ stats
@app.command("stats")
def stats_cmd(as_json: bool = typer.Option(False, "--json", help="print one JSON object")) -> None:
    """Counts of complaints and tasks by status, severity, source and department."""
    a = _app()
    data = stats_svc(a.sessions)
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True))
        return
    out.print(f"complaints: {data['complaints']:,}   tasks: {data['tasks']:,}   "
              f"in triage queue: {data['routed_to_triage_queue']:,}")
    for key in ("complaints_by_status", "complaints_by_severity", "tasks_by_department", "tasks_by_status"):
        t = Table(title=key.replace("_", " "))
        t.add_column("name")
        t.add_column("count", justify="right")
        for k, v in data[key].items():
            t.add_row(k, f"{v:,}")
        out.print(t)


# ------------------------------------------------------------------ complaints
@complaints_app.command("list")
def complaints_list(status: Optional[str] = typer.Option(None, help="filter by status"),
                    limit: int = typer.Option(50, min=1, max=10_000), offset: int = typer.Option(0, min=0)) -> None:
    """List complaints (id, source reference, status, severity, flags, category, route)."""
    a = _app()
    try:
        rows = complaint_svc.list_complaints(a.sessions, status=status, limit=limit, offset=offset)
    except DomainError as exc:
        _fail(exc, 2)
    t = Table()
    for col in ("id", "source", "ref", "status", "sev", "flags", "category", "route", "received (UTC)"):
        t.add_column(col)
    for c in rows:
        t.add_row(str(c.id), c.source, c.external_ref, c.status, c.severity, ",".join(c.risk_flags),
                  c.category[:40], c.route_rule or "(triage queue)", c.received_at.isoformat())
    out.print(t)


@complaints_app.command("show")
def complaints_show(complaint_id: int) -> None:
    """One complaint: facts, triage reasons, tasks and the full timeline (audit log and messages)."""
    a = _app()
    try:
        v = complaint_svc.show(a.sessions, complaint_id)
    except DomainError as exc:
        _fail(exc)
    c = v.complaint
    out.print(f"[bold]complaint {c.id}[/bold]  {c.source}:{c.external_ref}  status [bold]{c.status}[/bold]  "
              f"severity {c.severity}  version {c.version}")
    out.print(f"received {c.received_at.isoformat()}  category {c.category!r}  product {c.product!r}  "
              f"issue {c.issue!r}  channel {c.channel!r}  company {c.company!r}")
    out.print(f"route: {c.route_rule or '(fallback: triage queue)'}  flags: {', '.join(c.risk_flags) or '-'}")
    for r in c.triage_reasons:
        out.print(f"  - {escape(r)}")
    if c.merged_into_id:
        out.print(f"merged into complaint {c.merged_into_id}")
    if c.likely_duplicate_of_id:
        out.print(f"likely duplicate of complaint {c.likely_duplicate_of_id} "
                  f"(merge with: closeloop complaints merge {c.id} --into {c.likely_duplicate_of_id})")
    if v.merged_from:
        out.print(f"absorbed duplicates: {', '.join(map(str, v.merged_from))}")
    t = Table(title="tasks")
    for col in ("id", "department", "kind", "status", "assignee", "title"):
        t.add_column(col)
    for task in v.tasks:
        t.add_row(str(task.id), task.department, task.kind, task.status, task.assignee or "", task.title[:60])
    out.print(t)
    t = Table(title="timeline (UTC)")
    for col in ("at", "complaint", "what", "by"):
        t.add_column(col)
    for e in v.timeline:
        t.add_row(e.at.isoformat(), str(e.complaint_id), escape(f"[{e.kind}] {e.text}"), escape(e.actor))
    out.print(t)


@complaints_app.command("merge")
def complaints_merge(duplicate: int = typer.Argument(..., help="the duplicate complaint id"),
                     into: int = typer.Option(..., "--into", help="the complaint that survives"),
                     reason: Optional[str] = typer.Option(None, help="why they are the same"),
                     actor: Optional[str] = typer.Option(None, help="who merges (default: cli:<user>)")) -> None:
    """Merge DUPLICATE into another complaint: it becomes terminal, its tasks and messages move over."""
    a = _app()
    try:
        survivor = complaint_svc.merge(a.sessions, duplicate, into, actor=_actor(actor), at=a.clock.now(),
                                       reason=reason)
    except DomainError as exc:
        _fail(exc)
    out.print(f"complaint {duplicate} merged into {survivor.id}")


# ------------------------------------------------------------------ tasks
@tasks_app.command("list")
def tasks_list(department: Optional[str] = typer.Option(None, "--department", "-d"),
               status: Optional[str] = typer.Option(None, "--status", "-s"),
               limit: int = typer.Option(100, min=1, max=100_000)) -> None:
    """A department's queue (or all tasks), oldest first."""
    from sqlalchemy import select

    from closeloop.domain.task import TaskStatus
    from models.tables import Task

    if status and status not in {str(s) for s in TaskStatus}:
        _fail(f"--status: unknown status {status!r}; use one of {', '.join(s.value for s in TaskStatus)}", 2)
    a = _app()
    with unit_of_work(a.sessions) as s:
        q = select(Task).order_by(Task.created_at, Task.id).limit(limit)
        if department:
            q = q.where(Task.department == department)
        if status:
            q = q.where(Task.status == status)
        rows = list(s.scalars(q))
    t = Table()
    for col in ("id", "complaint", "department", "kind", "status", "assignee", "created (UTC)", "title"):
        t.add_column(col)
    for task in rows:
        t.add_row(str(task.id), str(task.complaint_id), task.department, task.kind, task.status,
                  task.assignee or "", task.created_at.isoformat(), task.title[:50])
    out.print(t)


def _task_action(fn, task_id: int, **kwargs) -> None:
    a = _app()
    try:
        task = fn(a.sessions, task_id, at=a.clock.now(), **kwargs)
    except DomainError as exc:
        _fail(exc)
    out.print(f"task {task.id} ({task.department}/{task.kind}) is now {task.status}")


@tasks_app.command("ack")
def tasks_ack(task_id: int, actor: Optional[str] = typer.Option(None)) -> None:
    """Acknowledge a task (the department's first response)."""
    _task_action(task_svc.acknowledge, task_id, actor=_actor(actor))


@tasks_app.command("start")
def tasks_start(task_id: int, actor: Optional[str] = typer.Option(None)) -> None:
    """Start work on a task."""
    _task_action(task_svc.start, task_id, actor=_actor(actor))


@tasks_app.command("complete")
def tasks_complete(task_id: int, outcome: str = typer.Option("", "--outcome", "-o", help="what was done"),
                   actor: Optional[str] = typer.Option(None)) -> None:
    """Complete a task; dependent tasks unblock; the complaint resolves when no task is left."""
    _task_action(task_svc.complete, task_id, actor=_actor(actor), outcome=outcome)


@tasks_app.command("transfer")
def tasks_transfer(task_id: int, to: str = typer.Option(..., "--to", help="target department"),
                   reason: str = typer.Option(..., "--reason", help="why it belongs there"),
                   actor: Optional[str] = typer.Option(None)) -> None:
    """Transfer a task to another department (a reason is required); prints the new task."""
    _task_action(task_svc.transfer, task_id, to=to, reason=reason, actor=_actor(actor))


@tasks_app.command("cancel")
def tasks_cancel(task_id: int, reason: str = typer.Option(..., "--reason"),
                 actor: Optional[str] = typer.Option(None)) -> None:
    """Cancel a task that is no longer needed (a reason is required)."""
    _task_action(task_svc.cancel, task_id, reason=reason, actor=_actor(actor))


# ------------------------------------------------------------------ config
@config_app.command("validate")
def config_validate(path: Optional[Path] = typer.Argument(None, help="file to check (default: CLOSELOOP_CONFIG)")) -> None:
    """Validate a configuration file; errors name the field."""
    try:
        cfg = load_config(path or os.environ.get("CLOSELOOP_CONFIG") or None)
    except ConfigError as exc:
        _fail(exc, 2)
    out.print(f"{cfg.source}: ok ({len(cfg.departments)} departments, {len(cfg.router.rules)} routing rules, "
              f"sha256 {cfg.version_hash[:12]})")


def main() -> None:  # console script entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
