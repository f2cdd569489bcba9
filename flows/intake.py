"""Import flow: complaint export files into the database, one Prefect task per file.

Thin over :func:`closeloop.services.intake.importing.import_file`; the service owns the
transaction, de-duplication, triage, routing and the clock. Files are imported
one after the other (not concurrently): each is one transaction, and a later file
de-duplicates against the earlier ones.

- Success: returns one :meth:`ImportReport.as_dict` per file, publishes a markdown
  artifact ``import-report`` and tags the run ``import`` and ``source:<format>``.
- A bad file in all-or-nothing mode: the task raises :class:`ImportRunFailed`
  (an :class:`ImportFailed` whose message carries the report, so the Prefect state
  message shows it); nothing of that file is written, files before it stay
  imported, files after it are not attempted, and the run fails.

Outside a flow run (``import_exports.fn(...)`` in tests) the tasks run as plain
functions and nothing talks to a Prefect API: no artifact, no tags.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.exceptions import MissingContextError

from closeloop.bootstrap import build_app
from closeloop.config import load_config
from closeloop.services.intake.importing import ImportFailed, ImportReport, import_file, rows_not_listed
from closeloop.services.markdown import md_text
from flows.runinfo import label_run
from flows.schedules import policy

ARTIFACT_KEY = "import-report"
MESSAGE_ERRORS = 20  # bad rows quoted in a failure message; all of them go to the log

_fallback_logger = logging.getLogger(__name__)


class ImportRunFailed(ImportFailed):
    """:class:`ImportFailed` whose message ends with the report as JSON (errors capped)."""

    def __init__(self, report: ImportReport):
        super().__init__(report)
        data = report.as_dict()
        omitted = max(0, len(data["errors"]) - MESSAGE_ERRORS)
        if omitted:
            data["errors"] = data["errors"][:MESSAGE_ERRORS]
            data["errors_omitted"] = omitted
        self.args = (f"{self.args[0]}\nreport: {json.dumps(data, default=str)}",)

    def __reduce__(self):  # pickle by the report, not by the message (results may be persisted)
        return (type(self), (self.report,))


def _logger():
    try:
        return get_run_logger()
    except MissingContextError:
        return _fallback_logger


def _transient(_task, _task_run, state) -> bool:
    """Retry a file only after a transient error (database gone, lock timeout), never after bad rows."""
    return not isinstance(state.result(raise_on_failure=False), ImportFailed)


@task(name="import-file", task_run_name="import {path}", tags=["import"], cache_policy=NO_CACHE,
      retries=2, retry_delay_seconds=[10, 60], retry_condition_fn=_transient)
def import_one(path: str, fmt: str = "auto", skip_bad_rows: bool = False,
               config_path: str | None = None, encoding: str = "utf-8") -> dict:
    """Import one file through the service; returns ``ImportReport.as_dict()``."""
    log = _logger()
    app = build_app(config=load_config(config_path) if config_path else None)
    try:
        report = import_file(app.sessions, app.config, app.clock, path, fmt=fmt,
                             skip_bad_rows=skip_bad_rows, batch_size=app.settings.import_batch_size,
                             encoding=encoding)
    except ImportFailed as exc:
        for err in exc.report.errors:
            log.error("%s: %s", path, err)
        if more := exc.report.rows_not_listed():
            log.error("%s: ... and %d more bad rows", path, more)
        raise ImportRunFailed(exc.report) from exc
    finally:
        app.dispose()
    for err in report.errors:  # skip-bad-rows mode: reported, left out
        log.warning("%s: skipped %s", path, err)
    log.info("%s (%s): %d rows, %d new, %d already present, %d not complaints, %d tasks, %d bad rows",
             path, report.format, report.rows, report.created, report.duplicates, report.rejected,
             report.tasks, report.bad_rows)
    return report.as_dict()


@flow(name="import-exports", **policy("import-exports"))
def import_exports(paths: list[str], fmt: str = "auto", skip_bad_rows: bool = False,
                   config_path: str | None = None, encoding: str = "utf-8") -> list[dict]:
    """Import complaint export files (CSV or JSON Lines), one task per file, in order.

    Args:
        paths: export files, absolute or relative to the worker's working directory.
        fmt: ``auto`` (detect from the header) or a profile: cfpb, nyc311,
            airline-tweets, zh-reviews, closeloop, jsonl.
        skip_bad_rows: import the good rows and report the bad ones, instead of
            all-or-nothing per file.
        config_path: configuration TOML; default ``CLOSELOOP_CONFIG`` or the bundled one.
        encoding: the files' text encoding (``utf-8``; ``gb18030``, ``utf-16``... as ``closeloop import
            --encoding``): a file that does not decode names the one it looks like.
    """
    in_run = FlowRunContext.get() is not None
    run_one = import_one if in_run else import_one.fn  # .fn: no task engine, no Prefect API
    reports: list[dict] = []
    for path in paths:
        try:
            reports.append(run_one(path, fmt=fmt, skip_bad_rows=skip_bad_rows, config_path=config_path,
                                   encoding=encoding))
        except ImportFailed as exc:
            if in_run:
                _publish(reports, paths, failed=exc.report.as_dict())
            raise
    if in_run:
        _publish(reports, paths)
        # the tags again: label_run writes the run's tags as this process last saw them
        label_run(f"import {len(paths)} file(s): {sum(r['created'] for r in reports):,} new, "
                  f"{sum(r['duplicates'] for r in reports):,} already present",
                  ["import", *sorted({f"source:{r['format']}" for r in reports if r["format"]})])
    return reports


def _publish(reports: list[dict], paths: list[str], failed: dict | None = None) -> None:
    """The summary artifact and the run's tags; only called inside a flow run."""
    create_markdown_artifact(key=ARTIFACT_KEY, markdown=render_summary(reports, paths, failed),
                             description="closeloop import: counts per file")
    ctx = FlowRunContext.get()
    run = ctx.flow_run if ctx is not None else None
    if run is None:
        return
    formats = {r["format"] for r in reports + ([failed] if failed else []) if r["format"]}
    tags = set(run.tags) | {"import"} | {f"source:{f}" for f in formats}
    if tags != set(run.tags):
        with get_client(sync_client=True) as client:
            client.update_flow_run(run.id, tags=sorted(tags))


_COLUMNS = [("rows", "rows read"), ("created", "new complaints"), ("duplicates", "already present"),
            ("rejected", "not complaints"), ("routed_to_triage_queue", "to triage queue"),
            ("likely_duplicates", "likely duplicates"), ("tasks", "tasks"), ("bad_rows", "bad rows")]


def _cell(text: str) -> str:
    return md_text(text)


def render_summary(reports: list[dict], paths: list[str], failed: dict | None = None) -> str:
    """Markdown: one row per file, totals, tasks by department, and a failure if any."""
    done = reports + ([failed] if failed else [])
    lines = ["# Import report", "",
             "| file | format | mode | " + " | ".join(h for _, h in _COLUMNS) + " | committed |",
             "|---|---|---|" + "---:|" * len(_COLUMNS) + "---|"]
    for r in done:
        lines.append(f"| {_cell(Path(r['path']).name)} | {r['format'] or '?'} | {r['mode']} | "
                     + " | ".join(f"{r[k]:,}" for k, _ in _COLUMNS) + f" | {'yes' if r['committed'] else 'no'} |")
    if len(done) > 1:
        lines.append("| **total** | | | " + " | ".join(f"{sum(r[k] for r in done):,}" for k, _ in _COLUMNS)
                     + " | |")
    departments: Counter[str] = Counter()
    for r in reports:
        departments.update(r["tasks_by_department"])
    if departments:
        lines += ["", "Tasks by department: "
                  + ", ".join(f"{d} {n:,}" for d, n in sorted(departments.items())) + "."]
    if failed:
        lines += ["", f"**Failed:** {_cell(failed['path'])}: {failed['bad_rows']:,} bad row(s); "
                  "nothing of that file was written (all-or-nothing)."]
        lines += [f"- line {e['line']}, column {_cell(e['column'])}, value \"{_cell(str(e['value']))}\": "
                  f"{_cell(e['problem'])}" for e in failed["errors"][:MESSAGE_ERRORS]]
        if more := rows_not_listed(failed["bad_rows"], (e["line"] for e in failed["errors"][:MESSAGE_ERRORS])):
            lines.append(f"- ... {more:,} more in the run's logs")
        skipped = paths[len(done):]
        if skipped:
            lines.append("")
            lines.append("Not attempted: " + ", ".join(_cell(Path(p).name) for p in skipped) + ".")
    return "\n".join(lines) + "\n"
