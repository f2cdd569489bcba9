"""``complaints list`` and ``tasks list`` say how many match when ``--limit`` cuts the table: both printed the
first 50 (100) rows and nothing else, so an operations manager read 100 tasks where 5,583 were active."""

from __future__ import annotations

from typer.testing import CliRunner

from closeloop.cli import app
from tests.conftest import ROOT

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False, env={"COLUMNS": "200"})


def test_a_list_cut_at_its_limit_says_how_many_match(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert _run("db", "upgrade").exit_code == 0
    assert _run("complaints", "list").output.splitlines()[-1] == "0 complaints"
    assert _run("import", str(ROOT / "examples" / "cfpb_sample.csv")).exit_code == 0  # 271 complaints

    res = _run("complaints", "list", "--limit", "3", "--offset", "10")
    assert res.exit_code == 0 and res.output.splitlines()[-1] == "271 complaints; showing 11-13"
    assert _run("complaints", "list", "--offset", "300").output.splitlines()[-1] == "271 complaints"

    res = _run("tasks", "list", "--department", "operations", "--status", "open", "--limit", "2")
    last = res.output.splitlines()[-1]
    total = int(last.split(" ")[0].replace(",", ""))
    assert res.exit_code == 0 and total > 2 and last == f"{total:,} tasks; showing 1-2"
    res = _run("tasks", "list", "--department", "operations", "--status", "open", "--limit", "100000")
    assert res.output.splitlines()[-1] == f"{total:,} tasks; showing 1-{total:,}"
    assert _run("tasks", "list", "--status", "done").output.splitlines()[-1] == "0 tasks"


def test_promises_list_of_an_unknown_complaint_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    assert _run("db", "upgrade").exit_code == 0
    res = _run("promises", "list", "99999")
    assert res.exit_code == 1 and "complaint 99999 not found" in res.output, res.output
