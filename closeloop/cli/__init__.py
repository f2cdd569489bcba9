"""The ``closeloop`` command line (Typer + Rich). No business logic: it parses, calls a service, prints.

Database: ``CLOSELOOP_DATABASE_URL`` (default ``sqlite:///closeloop.db`` in the
working directory). Configuration: ``CLOSELOOP_CONFIG`` (default: the bundled one).
"""

from __future__ import annotations

import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from closeloop.bootstrap import App
from closeloop.cli.common import (
    FlagCommand,
    err,
    fail,
    flags_as_flags,
    get_app,
    out,
    parse_instant,
    report_errors,
    stamp,
    startup_config,
)
from closeloop.cli.complaints import complaints_app
from closeloop.cli.tasks import tasks_app
from closeloop.config import Config, ConfigError, load_config
from closeloop.domain.errors import DomainError
from closeloop.logs import configure_logging, json_for_prefect_runs
from closeloop.replay_config import import_hint
from closeloop.services.engine.digest import overdue_digest
from closeloop.services.engine.engine_runs import RunKind, timed_run
from closeloop.services.engine.sweep import sweep
from closeloop.services.intake.importing import ImportFailed, ImportReport, import_file
from closeloop.services.reads.stats import stats as stats_svc
from closeloop.services.report_format import counted
from models import migrate

app = typer.Typer(help="closeloop: hard customer complaints, across departments, until the loop is closed.",
                  no_args_is_help=True, add_completion=False)


def _print_version(value: bool) -> None:
    if value:
        try:
            typer.echo(f"closeloop {version('closeloop')}")
        except PackageNotFoundError:  # run from a checkout that was not installed
            typer.echo("closeloop (not installed: run `make install`)")
        raise typer.Exit()


@app.callback()
def _main(show_version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                           help="print the installed version and exit")) -> None:
    """closeloop: hard customer complaints, across departments, until the loop is closed."""


db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
config_app = typer.Typer(help="Configuration files.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(complaints_app, name="complaints")
app.add_typer(tasks_app, name="tasks")
app.add_typer(config_app, name="config")
from closeloop.cli.compensation import compensation_app  # noqa: E402
from closeloop.cli.improvements import improvements_app  # noqa: E402

app.add_typer(improvements_app, name="improvements")
app.add_typer(compensation_app, name="compensation")
from closeloop.cli.customers import customers_app, promises_app  # noqa: E402

app.add_typer(customers_app, name="customers")
app.add_typer(promises_app, name="promises")
from closeloop.cli.report import report_app  # noqa: E402

app.add_typer(report_app, name="report")
from closeloop.cli.outbox import outbox_app  # noqa: E402
from closeloop.cli.replay import replay_cmd  # noqa: E402

app.add_typer(outbox_app, name="outbox")
from closeloop.cli.mail import mail_app  # noqa: E402

app.add_typer(mail_app, name="mail")

app.command("replay")(replay_cmd)
from closeloop.cli.api import api_cmd, bind_api_socket, host_port, openapi_cmd, start_api_thread, tokens_app  # noqa: E402

app.add_typer(tokens_app, name="tokens")
from closeloop.cli.users import users_app  # noqa: E402

app.add_typer(users_app, name="users")
app.command("api")(api_cmd)
app.command("openapi")(openapi_cmd)
from closeloop.cli.calendar import calendar_app  # noqa: E402

app.add_typer(calendar_app, name="calendar")
from closeloop.cli.webhooks import webhooks_app  # noqa: E402

app.add_typer(webhooks_app, name="webhooks")



# ------------------------------------------------------------------ db
@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="target revision")) -> None:
    """Create or upgrade the schema (SQLite batch mode with a foreign-key check afterwards)."""
    a = get_app(require_schema=False)
    try:
        migrate.upgrade(a.engine, revision)
    except Exception as exc:  # noqa: BLE001 - unknown revision, unwritable file: one line
        fail(f"db upgrade {revision}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}", 2)
    out.print(f"database at revision {migrate.current_revision(a.engine)}")


@db_app.command("downgrade", context_settings={"ignore_unknown_options": True})
def db_downgrade(revision: str = typer.Argument(..., help="target revision: an id, -N (N steps down) or 'base'"),
                 allow_data_loss: bool = typer.Option(False, "--allow-data-loss",
                                                      help="run even when the downgrade deletes rows")) -> None:
    """Revert the schema to REVISION. A step that would delete rows (which tables, how many) is refused
    unless --allow-data-loss; the steps that keep data run without it."""
    a = get_app(require_schema=False)
    try:
        migrate.downgrade(a.engine, revision, allow_data_loss=allow_data_loss)
    except migrate.DataLossRefused as exc:
        fail(f"db downgrade {revision}: {exc}", 2)
    except Exception as exc:  # noqa: BLE001
        fail(f"db downgrade {revision}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}", 2)
    out.print(f"database at revision {migrate.current_revision(a.engine) or 'base'}")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database."""
    a = get_app(require_schema=False)
    out.print(migrate.current_revision(a.engine) or "base")


# ------------------------------------------------------------------ import
@app.command("import")
def import_cmd(
    paths: list[Path] = typer.Argument(..., exists=True, dir_okay=False, help="export files (CSV or JSON Lines)"),
    fmt: str = typer.Option("auto", "--format", "-f",
                            help="auto, cfpb, nyc311, airline-tweets, zh-reviews, closeloop, jsonl"),
    skip_bad_rows: bool = typer.Option(False, "--skip-bad-rows",
                                       help="import the good rows and report the bad ones, instead of all-or-nothing"),
    config: Path | None = typer.Option(None, "--config", help="configuration file (default: CLOSELOOP_CONFIG)"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    encoding: str = typer.Option("utf-8", "--encoding",
                                 help="text encoding of the files (e.g. gb18030); a file that does not decode "
                                      "is refused with the encoding it most likely has"),
) -> None:
    """Import complaint exports: triage, de-duplicate, route and create department tasks.

    All-or-nothing per file by default: if any row of a file is bad (an unparseable
    date, a missing required field), every bad row is reported with its line, column
    and value, nothing of that file is written, the files after it are not read, and
    the exit code is 1 (files before it stay imported; the summary says which). With --skip-bad-rows the bad rows
    are reported and left out and all good rows land together. Importing the same
    file again adds nothing.
    """
    a = get_app()
    try:
        cfg = load_config(config) if config else a.config
    except ConfigError as exc:
        fail(exc, 2)
    reports: list[ImportReport] = []
    for path in paths:
        hint = None if config or os.environ.get("CLOSELOOP_CONFIG") else import_hint(path, fmt, encoding)
        if hint:
            err.print(f"[yellow]note[/yellow]: {escape(hint)}")
        report = _import_one(a, cfg, path, fmt=fmt, skip_bad_rows=skip_bad_rows, encoding=encoding,
                             as_json=as_json, before=reports)
        reports.append(report)
        if not as_json:
            _print_report(path, report)
    if as_json:
        print(json.dumps([r.as_dict() for r in reports] if len(reports) > 1 else reports[0].as_dict(), indent=2))


def _import_one(a: App, cfg: Config, path: Path, *, fmt: str, skip_bad_rows: bool, encoding: str, as_json: bool,
                before: list[ImportReport]) -> ImportReport:
    """Import one file with a progress bar (on a terminal, not with --json); its report.

    A refused file (:class:`ImportFailed`) prints its bad rows, the files ``before`` it that stay
    imported, and with ``as_json`` its report, then exits 1; a domain or naive-datetime error exits 2.
    """
    total = max(1, sum(1 for _ in open(path, "rb")) - 1) if path.stat().st_size < 512 * 1024 * 1024 else None
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.completed:,} rows"), TimeElapsedColumn(),
                  console=err, disable=as_json or not err.is_terminal, transient=True) as progress:
        bar = progress.add_task(f"importing {path.name}", total=total)

        def advance(n: int, bar: TaskID = bar) -> None:
            progress.update(bar, completed=n)

        try:
            return import_file(a.sessions, cfg, a.clock, path, fmt=fmt, skip_bad_rows=skip_bad_rows,
                               batch_size=a.settings.import_batch_size, encoding=encoding,
                               progress=advance)
        except ImportFailed as exc:
            _print_errors(exc.report)
            if before:
                err.print("already imported before this file: " + ", ".join(r.path for r in before))
            if as_json:
                print(json.dumps(exc.report.as_dict(), indent=2))
            fail(exc)
        except DomainError as exc:
            fail(exc, 2)


def _print_report(path: Path, report: ImportReport) -> None:
    """One file's bad rows (on stderr) and its counts as a table."""
    _print_errors(report)
    t = Table(title=f"import {path.name} ({report.format}, {report.mode})")
    for col in ("rows read", "new complaints", "not complaints", "already present", "to triage queue",
                "likely duplicates", "tasks", "bad rows"):
        t.add_column(col, justify="right")
    t.add_row(*(f"{v:,}" for v in (report.rows, report.created, report.rejected, report.duplicates,
                                   report.fallback, report.likely_duplicates, report.tasks, report.bad_rows)))
    out.print(t)


def _print_errors(report) -> None:
    for e in report.errors:
        err.print(f"[yellow]{escape(report.path)}[/yellow]: {escape(str(e))}")
    if more := report.rows_not_listed():
        err.print(f"... and {counted(more, 'more bad row')}")


# ------------------------------------------------------------------ stats
@app.command("stats")
def stats_cmd(as_json: bool = typer.Option(False, "--json", help="print one JSON object")) -> None:
    """Counts of complaints and tasks by status, severity, source and department."""
    a = get_app()
    data = stats_svc(a.sessions)
    if as_json:
        print(json.dumps(data, indent=2, sort_keys=True))
        return
    out.print(f"complaints: {data['complaints']:,}   tasks: {data['tasks']:,}   "
              f"in triage queue: {data['routed_to_triage_queue']:,}   "
              f"rejected as not complaints (counted apart): {data['rejected_not_complaints']:,}")
    for key in ("complaints_by_status", "complaints_by_severity", "tasks_by_department", "tasks_by_status"):
        t = Table(title=key.replace("_", " "))
        t.add_column("name")
        t.add_column("count", justify="right")
        for k, v in data[key].items():
            t.add_row(k, f"{v:,}")
        out.print(t)


# ------------------------------------------------------------------ follow-up engine
@app.command("sweep")
def sweep_cmd(once: bool = typer.Option(True, "--once", help="one sweep (accepted for clarity; `serve` repeats it "
                                                          "on a Prefect schedule)"),
              now: str | None = typer.Option(None, "--now", help="pretend it is this instant (ISO 8601 with offset)"),
              as_json: bool = typer.Option(False, "--json")) -> None:
    """Reschedule, fire what is due (reminders, escalations, follow-ups) and pack digests. Idempotent.
    Recorded in the engine's run history (engine_run, /metrics) like a scheduled sweep."""

    a = get_app()
    at = parse_instant(now, "--now") or a.clock.now()
    with timed_run(a, RunKind.SWEEP) as counts:
        done = sweep(a.sessions, a.config, at)
        counts.update(done.run_counts())
    report = done.as_dict()
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return
    out.print(f"sweep at {stamp(at)}: rescheduled {report['rescheduled']}, fired "
              f"{sum(report['fired'].values())} {report['fired']}, notifications {report['notifications']}, "
              f"messages {report['messages']}, follow-up tasks {report['tasks_created']}"
              + "".join(f", {label} {report[key]}" for key, label in _SWEEP_DROPS if report.get(key)))


#: The sweep report's dropped notices as the text line names them: (key, label).
_SWEEP_DROPS = (("dropped", "dropped notices"), ("customer_dropped", "dropped customer notices"))


@app.command("deliver")
def deliver_cmd(once: bool = typer.Option(True, "--once", help="drain what is due once (accepted for clarity; "
                                                            "`serve` repeats it every minute)"),
                max_batches: int = typer.Option(50, "--max-batches", min=1),
                as_json: bool = typer.Option(False, "--json")) -> None:
    """Send pending outbox messages (webhook, Apprise, e-mail, capture) with retries and backoff."""
    # deferred: Prefect (flows) costs about 1-2 s to import: only commands that run a flow pay it
    from flows.deliver import deliver_outbox

    get_app()  # checks the schema
    report = deliver_outbox.fn(max_batches=max_batches)
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        out.print(", ".join(f"{k} {v}" for k, v in report.items() if not isinstance(v, (list, dict))))


def served() -> str:
    """One line per deployment ``closeloop serve`` serves (deploy/prefect.yaml, :func:`flows.deployments.load_specs`:
    the list serve reads): its name and schedule; or why the file could not be read."""
    # deferred: reading the file imports a piece of Prefect (about 1 s): only serve's help pays it
    from flows.deployments import DeploymentFileError, load_specs

    try:
        specs = load_specs()
    except (DeploymentFileError, OSError, ValueError) as exc:
        return f"(the deployments could not be read: {exc})"
    return "\n".join(f"{s.name}: {', '.join(map(_when, s.schedules)) or 'on demand (no schedule)'}" for s in specs)


def _when(schedule: dict) -> str:
    """A schedule of deploy/prefect.yaml in words: ``every 5 min``, ``every minute``, ``cron 0 6 1 * *``."""
    if "interval" not in schedule:
        return f"cron {schedule.get('cron')}"  # in the zone the file names (the monthly review: the customers')
    seconds = int(schedule["interval"])
    if seconds == 60:
        return "every minute"
    return f"every {seconds // 60} min" if seconds % 60 == 0 else f"every {seconds} s"


class ServeCommand(FlagCommand):
    """``serve --help`` ends with the deployments it serves (:func:`served`), read when the help is shown."""

    def format_help(self, ctx, formatter) -> None:
        self.base_help = getattr(self, "base_help", self.help)  # the docstring, once: help may be shown again
        self.help = f"{self.base_help}\n\n\b\nServes these deployments of deploy/prefect.yaml:\n{served()}"
        super().format_help(ctx, formatter)


@app.command("serve", cls=ServeCommand)
def serve_cmd(api_host: str = typer.Option("127.0.0.1", "--api-host", help="the REST API's address"),
              api_port: int = typer.Option(8000, "--api-port", min=1, max=65535),
              no_api: bool = typer.Option(False, "--no-api", help="only the scheduled flows")) -> None:
    """Serve every deployment of deploy/prefect.yaml (the scheduled flows, listed below) with Prefect, and the
    REST API beside them (uvicorn in a thread; --no-api to leave it out).

    Starts a local Prefect server (`prefect server start` on 127.0.0.1, port 4200 or another free one; stopped with
    closeloop serve) unless PREFECT_API_URL points at a running Prefect server.
    """
    # deferred: Prefect (flows) costs about 1-2 s to import: only commands that run a flow pay it
    from flows.deliver import describe_email
    from flows.serve import serve_all, serve_lock

    a = get_app()
    config = startup_config(a)
    try:
        mail = describe_email(a.settings)
    except ValueError as exc:
        fail(exc, 2)
    # taken: one error line naming this command's option, nothing started
    sock = None if no_api else bind_api_socket(api_host, api_port, fields=("api_host", "api_port"))
    with serve_lock():  # one closeloop serve per local Prefect server: stopping one pauses the schedules
        configure_logging(a.settings.log_format)
        json_for_prefect_runs(a.settings.log_format)  # the flow-run processes' lines in the same format
        if sock is not None:
            start_api_thread(a, sock)
            out.print(f"REST API on http://{host_port(api_host, api_port)}/api/v1")
        out.print(mail)
        out.print("serving the deployments of deploy/prefect.yaml (Ctrl-C to stop)")
        serve_all(config)


@app.command("automations")
def automations_cmd(api_url: str | None = typer.Option(None, "--api-url", help="default: PREFECT_API_URL")) -> None:
    """Create or update the Prefect automations of deploy/automations.yaml (zombie detection: a flow run
    without a heartbeat for 90 s is marked Crashed) on the Prefect server; safe to run again."""
    # deferred: Prefect (flows) costs about 1-2 s to import: only commands that run a flow pay it
    from flows.automations import apply_automations

    for name, what in apply_automations(api_url).items():
        out.print(f"{name}: {what}")


@app.command("purge")
def purge_cmd(older_than_days: int | None = typer.Option(None, "--older-than-days", min=0,
                                                            help="default CLOSELOOP_RETENTION_DAYS (90)"),
              as_json: bool = typer.Option(False, "--json")) -> None:
    """Retention: delete fired timers, packed notifications, delivered messages and engine runs older than N days."""
    # deferred: Prefect (flows) costs about 1-2 s to import: only commands that run a flow pay it
    from flows.purge import purge_flow

    get_app()  # checks the schema
    report = purge_flow.fn(older_than_days=older_than_days)
    if as_json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        out.print(", ".join(f"{k} {v}" for k, v in report.items()))


@app.command("digest")
def digest_cmd(now: str | None = typer.Option(None, "--now", help="ISO 8601 with offset")) -> None:
    """Write today's overdue digest for the operations manager (once per local day)."""

    a = get_app()
    oid = overdue_digest(a.sessions, a.config, parse_instant(now, "--now") or a.clock.now())
    out.print("digest already written today" if oid is None else f"digest written (outbox {oid})")


# ------------------------------------------------------------------ config
@config_app.command("validate")
def config_validate(path: Path | None = typer.Argument(None, help="file to check (default: CLOSELOOP_CONFIG)")) -> None:
    """Validate a configuration file; errors name the field (exit 2). A ``[webhooks.*]`` url that no notify field
    names is a warning on stderr (exit 0: a user's notify target may use it)."""
    try:
        cfg = load_config(path or os.environ.get("CLOSELOOP_CONFIG") or None)
    except ConfigError as exc:
        fail(exc, 2)
    for line in cfg.unmatched_webhooks():
        typer.echo(f"warning: {line}", err=True)
    out.print(f"{cfg.source}: ok ({len(cfg.departments)} departments, {len(cfg.router.rules)} routing rules, "
              f"sha256 {cfg.version_hash[:12]})")


report_errors(app)  # every command, here and in the sub-apps: one error line and exit code, no traceback
flags_as_flags(app)  # and help that shows --json, --help as flags, without a <bool> type


def main() -> None:  # console script entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
