"""Every command that writes a file given with ``--out`` (exports, the review report, the OpenAPI document) refuses
one it cannot write with one line naming ``--out`` and exit code 2: never a traceback (a file where a directory
of the path should be, a directory where the file should be). The replay's ``--out`` directory:
``tests/e2e/test_replay_inputs.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from closeloop.cli import app

runner = CliRunner()
COMMANDS = {
    "complaints export": ["complaints", "export"],
    "complaints timeline": ["complaints", "timeline", "1"],
    "report review": ["report", "review", "--period", "2023-07"],
    "openapi": ["openapi"],
}


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    feed = tmp_path / "one.csv"
    feed.write_text("external_ref,received_at,category,text\nR-1,2023-07-03T10:00:00+00:00,billing,charged twice\n",
                    "utf-8")
    assert runner.invoke(app, ["import", str(feed)]).exit_code == 0  # complaint 1, for its timeline
    (tmp_path / "afile").write_text("not a directory", "utf-8")
    (tmp_path / "adir").mkdir()
    return tmp_path


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("out, problem", [("afile/x.out", "cannot write afile/x.out: afile is a file, not a directory"),
                                          ("afile/sub/x.out", "afile is a file, not a directory"),
                                          ("adir", "adir is a directory, not a file")])
def test_an_out_that_cannot_be_written_is_one_line_naming_it(cli_env: Path, command: str, out: str, problem: str):
    res = runner.invoke(app, [*COMMANDS[command], "--out", out], catch_exceptions=False)
    text = " ".join(res.output.split())
    assert res.exit_code == 2, res.output
    assert text.startswith("error: --out: ") and problem in text and "Traceback" not in text
    assert (cli_env / "afile").read_text("utf-8") == "not a directory"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_an_out_in_a_new_directory_is_written(cli_env: Path, command: str):
    res = runner.invoke(app, [*COMMANDS[command], "--out", "new/dir/x.out"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert (cli_env / "new" / "dir" / "x.out").is_file()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_out_dash_is_standard_output_never_a_file_named_dash(cli_env: Path, command: str):
    assert runner.invoke(app, [*COMMANDS[command], "--out", "x.out"], catch_exceptions=False).exit_code == 0
    res = runner.invoke(app, [*COMMANDS[command], "--out", "-"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert not (cli_env / "-").exists()
    assert res.stdout.strip() == (cli_env / "x.out").read_text("utf-8").strip() != ""


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_out_help_names_dash_as_standard_output(command: str):
    text = " ".join(runner.invoke(app, [*COMMANDS[command][:2], "--help"], env={"COLUMNS": "300"}).output.split())
    assert "'-' or none: standard output" in text
