"""``closeloop replay``: real exports through the whole lifecycle in simulated time, with a report."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from closeloop.bootstrap import process_clock
from closeloop.cli.common import AnyInt, err, fail, load_settings, out, out_directory
from closeloop.config import ConfigError, load_config
from closeloop.domain.errors import InvalidInput
from closeloop.replay_config import choose
from closeloop.services.engine.delivery import deliver_once
from closeloop.services.replay.compare import compare as diff
from closeloop.services.replay.replay import run_replay
from closeloop.services.replay.report import render_html
from closeloop.services.report_format import counted
from closeloop.services.review.review import render, review_of_file
from integrations.exports import RowError, check_encoding
from integrations.senders import CaptureSender

ROOT = Path(__file__).resolve().parents[2]  # closeloop/cli/replay.py -> the repository
BUNDLED = [  # (scenario, file, configuration): the samples bundled in examples/
    ("cfpb", ROOT / "examples" / "cfpb_sample.csv", None),
    ("nyc311", ROOT / "examples" / "nyc311_sample.csv", ROOT / "examples" / "nyc311.toml"),
]

COMPARED = [("base", None, None), ("compared", None, None)]  # the two replays of --compare, in --out/<name>


class _CaptureEverything:
    """Replay's sender: every message goes to a local capture file (``capture://<channel>``), whatever
    target it names; the outbox rows keep their real targets."""

    def __init__(self, directory: Path):

        self.capture = CaptureSender(directory)

    async def send(self, msg):
        if msg.channel != "capture":
            msg = dataclasses.replace(msg, target=f"capture://{msg.channel}")
        return await self.capture.send(msg)


def _capture_delivery(directory: Path):

    sender = _CaptureEverything(directory)

    def deliver(sessions, clock) -> None:
        asyncio.run(deliver_once(sessions, sender, clock, worker="replay", batch=500))

    return deliver


def replay_cmd(
    paths: list[Path] | None = typer.Argument(None, exists=True, dir_okay=False,
                                                 help="export files; default: the bundled CFPB and NYC 311 samples"),
    fmt: str = typer.Option("auto", "--format", "-f", help="auto, cfpb, nyc311, airline-tweets, zh-reviews, ..."),
    config: Path | None = typer.Option(None, "--config", help="configuration for PATHs (default: CLOSELOOP_CONFIG)"),
    out_dir: Path = typer.Option(Path("out/replay"), "--out",
                                 help="the directory replay.db, summary.json, report.html go to (several files: "
                                      "'-', standard output, is refused)"),
    step_minutes: int = typer.Option(60, "--step", min=1, help="sweep cadence in simulated minutes"),
    weeks: int = typer.Option(6, "--weeks", min=0, help="simulated weeks after the last complaint"),
    seed: AnyInt = typer.Option(7, "--seed", help="seed of the behaviour model where the data is silent"),
    speed: str = typer.Option("max", "--speed",
                              help="'max' (as fast as possible) or N: simulated time runs N times real time, "
                                   "each jump capped at 2 s of waiting"),
    compare: Path | None = typer.Option(None, "--compare", exists=True, dir_okay=False,
                                           help="what-if: replay PATHs under this configuration too and print "
                                                "the differences side by side (compare.json in --out)"),
    encoding: str = typer.Option("utf-8", "--encoding",
                                 help="text encoding of PATHs, one for all of them (e.g. gb18030; replay files of "
                                      "different encodings apart, or convert them); a file that does not decode "
                                      "is refused with the encoding it most likely has"),
) -> None:
    """Replay complaint exports through the whole lifecycle in simulated time and report what happened.

    Runs on a fresh SQLite database in --out; notifications go to capture files in
    --out/capture (nothing leaves the machine). Writes summary.json and report.html.
    Rows go through import's field rules (a date received in the future is judged
    against the real clock, never the simulated one); bad rows are reported with
    their line, column and value and left out, as with import --skip-bad-rows.
    """


    pace = _pace(speed)
    encoding = check_encoding(encoding)
    scenarios = _scenarios(paths, fmt, config or os.environ.get("CLOSELOOP_CONFIG") or None, compare, encoding)
    _clear(out_directory(out_dir))
    summaries = _run_scenarios(scenarios, out_dir, fmt=fmt, seed=seed, step=timedelta(minutes=step_minutes),
                               horizon=timedelta(weeks=weeks), pace=pace, encoding=encoding)
    out_dir.mkdir(parents=True, exist_ok=True)
    if len(summaries) > 1:
        (out_dir / "summary.json").write_text(json.dumps({"scenarios": summaries}, indent=2, ensure_ascii=False),
                                              "utf-8")
    (out_dir / "report.html").write_text(render_html(summaries, root_causes={name: cfg.model.improvement.root_causes
                                                                            for name, _, cfg in scenarios}), "utf-8")
    for name, s in summaries.items():
        _print(name, s)
    if compare is not None:
        _print_comparison(out_dir, summaries)
    out.print(f"wrote {out_dir / 'summary.json'} and {out_dir / 'report.html'}")
    for name, s in summaries.items():
        if "review" in s:
            where = out_dir / name if len(summaries) > 1 else out_dir
            out.print(f"monthly review of {s['review']['period']}: {where / s['review']['files'][1]}")


def _pace(speed: str) -> Callable[[timedelta], None] | None:
    """The pacing of ``--speed``: None for ``max``, else a sleep of simulated time / N (at most 2 s a
    jump); exits 2 when ``speed`` is neither ``max`` nor a finite positive number."""

    if speed == "max":
        return None
    try:
        factor = float(speed)
        if not factor > 0 or factor == float("inf"):
            raise ValueError
    except ValueError:
        fail(f"--speed: {speed!r} is neither 'max' nor a positive number", 2)
    return lambda delta: time.sleep(min(2.0, delta.total_seconds() / factor))


def _clear(out_dir: Path) -> None:
    """Remove what an earlier replay left in ``out_dir`` (scenario folders, captures, summary, report,
    comparison, reviews, the database), so two runs never mix; exits 2 naming ``--out`` when one of them
    cannot be removed (the replay would fail writing it after its whole run)."""

    names = [n for n, _, _ in BUNDLED + COMPARED] + ["capture", "summary.json", "report.html", "compare.json",
                                                     "replay.db"] + [p.name for p in out_dir.glob("review-*.*")]
    try:
        for stale in (out_dir / n for n in names):
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale)
            else:
                stale.unlink(missing_ok=True)
    except OSError as exc:
        fail(InvalidInput("--out", f"cannot replace {exc.filename or out_dir}: {exc.strerror or exc}"), 2)


def _run_scenarios(scenarios: list[tuple], out_dir: Path, *, fmt: str, seed: int, step: timedelta,
                   horizon: timedelta, pace: Callable[[timedelta], None] | None,
                   encoding: str = "utf-8") -> dict[str, dict]:
    """Replay each ``(name, files, config)`` (in ``out_dir/name`` when there are several, else in
    ``out_dir``) with a progress display; writes each one's review and summary.json; the summaries
    by name. Rows are checked at the clock ``closeloop import`` uses (``CLOSELOOP_CLOCK_AT`` or the system
    clock), never the simulated one. A ``ValueError`` from the replay exits 2."""

    summaries: dict[str, dict] = {}
    clock = process_clock(load_settings())  # a refused setting: one line naming it, exit 2
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("events"), TimeElapsedColumn(), console=err, transient=True,
                  disable=not err.is_terminal) as progress:
        for name, files, cfg in scenarios:
            shown = _Shown(name, progress)
            target = out_dir / name if len(scenarios) > 1 else out_dir
            try:
                summary = run_replay(files, cfg, target, fmt=fmt, seed=seed, step=step, horizon=horizon,
                                     deliver=_capture_delivery(target / "capture"), pace=pace, progress=shown,
                                     clock=clock, encoding=encoding)
            except ValueError as exc:
                fail(exc, 2)
            shown.done()
            _write_review(target, cfg, summary)
            (target / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), "utf-8")
            summaries[name] = summary
    return summaries


def _scenarios(paths: list[Path] | None, fmt: str, explicit, compare: Path | None,
               encoding: str = "utf-8") -> list[tuple]:
    """``[(name, files, config)]`` to replay; prints which configuration(s) first."""

    if not paths:
        if compare is not None:
            fail("--compare needs the export file(s) to replay under both configurations", 2)
        out.print("configuration: " + "; ".join(f"{name}: {(conf or 'closeloop/config/default.toml')}".replace(
            str(ROOT) + "/", "") for name, _, conf in BUNDLED) + " (the bundled samples)")
        return [(name, [path], load_config(conf)) for name, path, conf in BUNDLED]
    try:
        chosen = choose(list(paths), fmt, explicit, encoding)
        other = load_config(compare) if compare is not None else None
    except ConfigError as exc:
        fail(exc, 2)
    out.print(chosen.why)
    if other is None:
        return [("replay", list(paths), chosen.config)]
    out.print(f"compared with: {compare}")
    return [(COMPARED[0][0], list(paths), chosen.config), (COMPARED[1][0], list(paths), other)]


def _print_comparison(out_dir: Path, summaries: dict[str, dict]) -> None:
    """The what-if table (and compare.json): the second configuration against the first."""

    (a_name, a), (b_name, b) = summaries.items()
    result = diff(a, b, labels=(a["config"], b["config"]))
    (out_dir / "compare.json").write_text(json.dumps(result, indent=2, ensure_ascii=False), "utf-8")
    t = Table(title=f"what-if: {b['config']} against {a['config']}")
    for col in ("figure", a_name, b_name, "change"):
        t.add_column(col, justify="left" if col == "figure" else "right")
    for k, v in result["totals"].items():
        t.add_row(result["labels"].get(k, k.replace("_", " ")), str(v["a"]), str(v["b"]), f"{v['change']:+d}")
    for d, v in result["departments"].items():
        t.add_row(f"{d}: median business h", _num(v["a"]), _num(v["b"]),
                  "-" if v["change"] is None else f"{v['change']:+.1f}")
    out.print(t)
    out.print(f"wrote {out_dir / 'compare.json'}")


class _Shown:
    """Replay progress: a bar with the simulated date and events done/known on a terminal; on
    anything else a plain line at most every 10 seconds (and the last one), so a log shows life."""

    EVERY_S = 10.0

    def __init__(self, name: str, progress: Progress):

        self.name, self.progress, self.clock = name, progress, time.monotonic
        self.bar = progress.add_task(f"{name}: starting", total=None)
        self.last: float | None = None

    def __call__(self, simulated, done: int, total: int) -> None:
        when = simulated.strftime("%Y-%m-%d %H:%M UTC")
        if err.is_terminal:
            self.progress.update(self.bar, description=f"{self.name}: simulated {when}", completed=done,
                                 total=total)
            return
        now = self.clock()
        self.final = f"{self.name}: simulated {when}, events {done}/{total}"
        if self.last is None or now - self.last >= self.EVERY_S:
            self.last = now
            err.print(self.final, highlight=False)

    def done(self) -> None:
        """The last state as a plain line (not on a terminal, where the bar is enough)."""
        if not err.is_terminal and getattr(self, "final", None):
            err.print(self.final + " (done)", highlight=False)


def _write_review(target: Path, cfg, summary: dict) -> None:
    """The monthly review of the replay's busiest month, as of the end of simulated time (md and html)."""


    found = review_of_file(target / "replay.db", cfg, datetime.fromisoformat(summary["generated_at"]))
    if found is None:
        return
    label, review = found
    for fmt in ("md", "html"):
        text = render(review, fmt, root_causes=cfg.model.improvement.root_causes)
        (target / f"review-{label}.{fmt}").write_text(text, "utf-8")
    summary["review"] = {"period": label, "files": [f"review-{label}.md", f"review-{label}.html"]}


def _print(name: str, s: dict) -> None:
    acc = s["accounting"]
    out.print(f"\n[bold]{name}[/bold]: {counted(acc['rows'], 'row')} -> "
              f"{counted(s['complaints']['received'], 'complaint')} received "
              f"({acc['complaints_resolved_or_closed']} resolved/closed, {acc['complaints_open']} open, "
              f"{counted(acc['rejected_not_complaints'], 'not a complaint', 'not complaints')}), "
              f"{counted(acc['duplicates'], 'duplicate')}, {counted(acc['bad_rows'], 'bad row')}; "
              f"every row accounted for: {acc['all_rows_accounted_for']}")
    for bad in s["rows"]["bad_row_details"]:  # as the import prints them: every problem of a row (the first 50)
        row = RowError(bad["line"], bad["column"], bad["value"], bad["problem"], withheld=bad.get("withheld", False))
        err.print(f"[yellow]{escape(bad['file'])}[/yellow]: {escape(str(row))}")
    if more := s["rows"].get("bad_rows_not_listed"):
        err.print(f"... and {counted(more, 'more bad row')}")
    t = Table(title=f"{name}: departments, worst first")
    for col in ("department", "tasks", "done", "open", "median h to complete", "median business h",
                "resolved within target", "breached so far"):
        t.add_column(col, justify="right" if col != "department" else "left")
    for d, v in s["tasks"]["by_department"].items():
        t.add_row(d, str(v["tasks"]), str(v["completed"]), str(v["open"]), _num(v["median_hours_to_complete"]),
                  _num(v["median_business_hours_to_complete"]),
                  f"{_pct(v['resolved_within_target'])} ({v['resolved_met']}/{v['resolved']})",
                  f"{_pct(v['breached_so_far'])} ({v['breached_so_far_count']}/{v['sla_tasks']})")
    out.print(t)
    for cv in s.get("caveats", []):
        out.print(f"[yellow]note:[/yellow] {cv['text']}")
    n = s["notifications"]
    roles = n.get("escalation_level_roles", {})
    levels = ", ".join(f"L{k} {roles.get(k, '')}: {v}" for k, v in n["escalations_by_level"].items()) or "none"
    fu = s["follow_ups"]
    rp = s["complaints"]["resolution_promise"]
    out.print(f"reminders {n['reminders']}, acknowledgement timeouts {n['acknowledgement_timeouts']}"
              f"{_not_modelled(n)}, "
              f"escalations received per level: {levels}; customer follow-ups {fu['created']} ({fu['satisfied']} "
              f"{fu['satisfied_label']}, {fu['not_satisfied']} not satisfied); complaints by status "
              f"{s['complaints']['by_status']}")
    out.print(f"customer promise (resolution due date) of {rp['with_target']} complaints: met {rp['met']}, "
              f"breached {rp['breached']}, open and not due yet {rp['not_due_yet']} "
              f"({n['resolution_promise_breach_notices']} breach notices)")
    cu = s.get("customers")
    if cu:
        pr = cu["promises"]
        out.print(f"customers told: acknowledgements {cu['acknowledgements']}, updates {cu['updates_total']} "
                  f"{cu['updates']}, replies {cu['replies']} ({cu['delivered']} of {cu['messages']} delivered); "
                  f"tracked promises (call-backs, documents, refunds): made {pr['made']}, kept {pr['kept']} "
                  f"({pr['kept_late']} late), broken {pr['broken']}, open {pr['open']}")


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _pct(v: float | None) -> str:
    return "no data" if v is None else f"{v:.0%}"


def _not_modelled(n: dict) -> str:
    """`` (and N not modelled: ...)`` for the acknowledgement timeouts of sources recording no acknowledgement."""
    k = n.get("acknowledgement_timeouts_not_modelled") or 0
    return f" (and {k} not modelled: the export records no acknowledgement)" if k else ""
