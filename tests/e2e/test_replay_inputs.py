"""``closeloop replay``'s inputs and outputs: a non-UTF-8 export (``--encoding``, as import has it), an ``--out``
that cannot be a directory, the over-long value of a bad row, and the customer promise figures of the summary, the
report and the what-if table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from closeloop.cli import app
from tests.conftest import ROOT

runner = CliRunner()
DEFAULT_TOML = ROOT / "closeloop" / "config" / "default.toml"


@pytest.fixture
def here(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    monkeypatch.setenv("CLOSELOOP_CLOCK_AT", "2026-03-02T09:00:00+00:00")
    return tmp_path


def _replay(*args: str):
    return runner.invoke(app, ["replay", *args], catch_exceptions=False)


def _one_line(output: str) -> str:
    return " ".join(output.split())


def test_replay_reads_a_gb18030_export_with_the_encoding_its_hint_names(here: Path):
    feed = here / "zh_gb.csv"
    feed.write_bytes(("source_row,cat,label,review\n" + "".join(
        f"{i},书籍,{i % 2},这本书的印刷质量太差了，第{i}页\n" for i in range(1, 13))).encode("gb18030"))
    refused = _replay(str(feed), "--out", "r1")
    hint = "pass --encoding gb18030"
    assert refused.exit_code == 2 and hint in _one_line(refused.output)
    res = _replay(str(feed), "--out", "r1", "--encoding", "gb18030", "--weeks", "1")
    assert res.exit_code == 0, res.output
    summary = json.loads((here / "r1" / "summary.json").read_text("utf-8"))
    acc = summary["accounting"]
    assert (acc["rows"], acc["bad_rows"], acc["rejected_not_complaints"]) == (12, 0, 6)
    assert acc["all_rows_accounted_for"]
    assert summary["complaints"]["received"] == 6
    bad = _replay(str(feed), "--out", "r1", "--encoding", "no-such-encoding")
    assert bad.exit_code == 2 and "--encoding: unknown encoding 'no-such-encoding'" in _one_line(bad.output)
    helped = _one_line(runner.invoke(app, ["replay", "--help"], env={"COLUMNS": "300"}).output)
    assert "--encoding" in helped and "one for all of them" in helped


@pytest.mark.parametrize("out", ["afile", "afile/sub"])
def test_an_out_that_cannot_be_a_directory_is_one_line_naming_it(here: Path, out: str):
    (here / "afile").write_text("not a directory", "utf-8")
    res = _replay(str(ROOT / "examples" / "nyc311_sample.csv"), "--out", out)
    assert res.exit_code == 2, res.output
    assert "error: --out:" in _one_line(res.output) and "afile is a file, not a directory" in _one_line(res.output)
    assert "Traceback" not in res.output and (here / "afile").read_text("utf-8") == "not a directory"


def test_out_dash_is_refused_naming_it_the_replay_writes_several_files(here: Path):
    res = _replay(str(ROOT / "examples" / "nyc311_sample.csv"), "--out", "-")
    assert res.exit_code == 2, res.output
    line = _one_line(res.output)
    assert "error: --out: '-' (standard output) cannot take this command's several files" in line
    assert not (here / "-").exists()


def test_a_leftover_of_the_wrong_kind_in_out_is_replaced(here: Path):
    """A directory where report.html goes (or a file where a scenario folder goes) would fail the replay after its
    whole run; the earlier run's leftovers of either kind are replaced."""
    (here / "r" / "report.html").mkdir(parents=True)
    (here / "r" / "capture").write_text("a file", "utf-8")
    res = _replay(str(_cfpb(here, [_CFPB_ROW])), "--out", "r", "--weeks", "1")
    assert res.exit_code == 0, res.output
    assert (here / "r" / "report.html").is_file()


_CFPB_HEADER = ("Date received,Product,Issue,Consumer complaint narrative,Company,State,Submitted via,"
                "Date sent to company,Company response to consumer,Timely response?,Consumer disputed?,Complaint ID")
_CFPB_ROW = ("2023-07-03,Mortgage,Trouble during payment process,{text},ACME BANK,CA,Web,2023-07-03,{response},Yes,No,"
             "{id}")


def _cfpb(here: Path, rows: list[str]) -> Path:
    path = here / "cfpb.csv"
    path.write_text(_CFPB_HEADER + "\n" + "".join(
        r.format(text=f"late {i}", response="Closed with explanation", id=7000000 + i) + "\n"
        if "{" in r else r + "\n" for i, r in enumerate(rows)), "utf-8")
    return path


def test_a_bad_rows_over_long_value_is_shown_under_the_files_column_cut(here: Path):
    long_row = _CFPB_ROW.format(text="x" * 25_000, response="Closed with explanation", id=7000099)
    res = _replay(str(_cfpb(here, [_CFPB_ROW, long_row])), "--out", "r", "--weeks", "1")
    assert res.exit_code == 0, res.output
    [bad] = json.loads((here / "r" / "summary.json").read_text("utf-8"))["rows"]["bad_row_details"]
    assert (bad["line"], bad["column"]) == (3, "Consumer complaint narrative")
    assert bad["value"] == "x" * 200 + "... (25,000 characters)" and "longer than 20,000" in bad["problem"]
    assert "column 'Consumer complaint narrative', value 'xxxx" in _one_line(res.output)


def test_the_resolution_promise_is_never_counted_kept_while_open_and_never_mixed_with_tracked_promises(here: Path):
    """A CFPB complaint still "In progress" is open and its resolution due date not reached when the replay ends:
    the what-if table counted it among "promises kept" (received less complaints with a breach notice) while the
    summary line said "promises made 0, kept 0" (the tracked promises). The resolution due date now has its own
    figures (met, breached, not due yet), apart from the tracked promises, in the summary, table and report."""
    in_progress = ("2023-07-20,Mortgage,Trouble during payment process,open,ACME BANK,CA,Web,2023-07-20,In progress,"
                   "Yes,,7000050")
    feed = _cfpb(here, [_CFPB_ROW, in_progress])
    res = _replay(str(feed), "--out", "r", "--weeks", "0", "--config", str(DEFAULT_TOML), "--compare",
                  str(DEFAULT_TOML))
    assert res.exit_code == 0, res.output
    base = json.loads((here / "r" / "base" / "summary.json").read_text("utf-8"))
    promise = base["complaints"]["resolution_promise"]
    assert promise["not_due_yet"] == 1 and base["customers"]["promises"]["made"] == 0
    assert promise["met"] + promise["breached"] + promise["not_due_yet"] == promise["with_target"] == 2
    totals = json.loads((here / "r" / "compare.json").read_text("utf-8"))["totals"]
    assert totals["resolution_promise_met"]["a"] == promise["met"] <= 1  # the open one is not among them
    assert totals["resolution_promise_breached"]["a"] == promise["breached"]
    printed = _one_line(res.output)
    assert "promises kept" not in printed and "promise breaches" not in printed
    assert "customer promise (resolution due date) met" in printed
    assert "tracked promises (call-backs, documents, refunds): made 0, kept 0" in printed
    assert f"open and not due yet {promise['not_due_yet']}" in printed
    html = (here / "r" / "report.html").read_text("utf-8")
    assert "Tracked promises" in html and 'id="resolution-promise"' in html and "Promises: " not in html
