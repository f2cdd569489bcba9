"""``closeloop report review``: the monthly cross-department review in Markdown, HTML or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from closeloop.cli.common import OUT_HELP, fail, get_app, out, out_file, write_out
from closeloop.services.review.review import FORMATS, build_review, render
from closeloop.services.review.review_period import previous_month

report_app = typer.Typer(help="Reports for the operations meeting.", no_args_is_help=True)


@report_app.command("review")
def review_cmd(
    period: str | None = typer.Option(None, "--period", help="month YYYY-MM (default: the previous month)"),
    fmt: str = typer.Option("md", "--format", help="md | html | json"),
    output: Path | None = typer.Option(None, "--out", help=OUT_HELP),
) -> None:
    """Top root causes (Pareto), recurrence and its trend, improvement records with overdue actions,
    per-department SLA compliance and overdue tasks, complaints that bounced, compensation totals.

    Months are cut at midnight in the customer calendar's time zone; clocks are taken as of the
    month's end. Exit code 2 for a malformed period or format.
    """
    if fmt not in FORMATS:
        fail(f"--format: expected one of {', '.join(FORMATS)}, got {fmt!r}", 2)
    a = get_app()
    try:
        now = a.clock.now()
        label = period or previous_month(now, str(a.config.customer_calendar.zone)).label
        review = build_review(a.sessions, a.config, label, now)
    finally:
        a.dispose()
    text = json.dumps(review, indent=2, ensure_ascii=False) if fmt == "json" else render(
        review, fmt, root_causes=a.config.model.improvement.root_causes)
    target = out_file(output)
    if target is None:
        typer.echo(text)
    else:
        write_out(target, text)
        out.print(f"wrote {target} ({fmt}, {review['period']['label']})")
