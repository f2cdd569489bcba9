"""The command line, end to end through Typer, on a SQLite file (the embedded default)."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC

import pytest
import typer
from typer.testing import CliRunner

from closeloop.cli import app
from closeloop.cli.common import AnyInt
from tests.conftest import ROOT

runner = CliRunner()


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.mark.parametrize("group", ["tasks", "complaints", "promises", "tokens", "users"])
def test_a_group_that_lists_its_commands_lists_them_all(group):
    """The summary of ``closeloop GROUP --help`` names every subcommand (it had left out assign, follow-up and
    remind of ``tasks``)."""
    sub = typer.main.get_command(app).commands[group]
    listed = set(re.findall(r"[a-z][a-z-]*", (sub.help or "").split(":", 1)[1]))
    assert set(sub.commands) <= listed, set(sub.commands) - listed


def test_commands_need_a_migrated_database(cli_env):
    res = run("stats", "--json")
    assert res.exit_code == 2 and "closeloop db upgrade" in res.output


def test_import_stats_and_task_commands(cli_env):
    assert run("db", "upgrade").exit_code == 0
    res = run("import", str(ROOT / "examples" / "cfpb_sample.csv"), "--json")
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["created"] == 271 and report["committed"] is True
    res = run("stats", "--json")
    st = json.loads(res.stdout)
    for key in ("complaints", "complaints_by_status", "tasks", "tasks_by_department", "tasks_by_status"):
        assert key in st
    assert st["complaints"] == 271 and st["complaints_by_status"] == {"triaged": 271}
    assert all(isinstance(v, int) for v in st["tasks_by_department"].values())
    again = json.loads(run("import", str(ROOT / "examples" / "cfpb_sample.csv"), "--json").stdout)
    assert (again["created"], again["duplicates"]) == (0, 271)

    res = run("tasks", "list", "--department", "operations", "--status", "open", "--limit", "1")
    assert res.exit_code == 0 and "operations" in res.output
    task_id = int(res.output.split("│")[1].strip()) if "│" in res.output else None
    assert task_id
    assert "acknowledged" in run("tasks", "ack", str(task_id), "--actor", "ops-1").output
    res = runner.invoke(app, ["tasks", "transfer", str(task_id), "--to", "product"])
    assert res.exit_code != 0 and "--reason" in res.output
    res = run("tasks", "transfer", str(task_id), "--to", "product", "--reason", "pricing rule")
    assert res.exit_code == 0 and "product" in res.output
    res = run("tasks", "complete", str(task_id), "--outcome", "x")
    assert res.exit_code == 1 and "transferred" in res.output
    res = run("tasks", "list", "--status", "bogus")
    assert res.exit_code == 2 and "unknown status" in res.output


def test_complaints_show_and_merge(cli_env, tmp_path):
    assert run("db", "upgrade").exit_code == 0
    feed = tmp_path / "feed.csv"
    feed.write_text("external_ref,received_at,customer_ref,category,text\n"
                    "F1,2026-03-02T09:00:00+08:00,c1,billing,[urgent] charged twice\n"
                    "F2,2026-03-03T09:00:00+08:00,c1,billing,\"still charged twice, I will call my lawyer\"\n",
                    encoding="utf-8")
    assert run("import", str(feed)).exit_code == 0
    res = run("complaints", "show", "2")
    assert res.exit_code == 0
    assert "likely duplicate of complaint 1" in res.output and "legal_threat" in res.output
    res = run("complaints", "merge", "2", "--into", "1", "--reason", "same double charge")
    assert res.exit_code == 0 and "merged into 1" in res.output
    res = run("complaints", "show", "1")
    assert "absorbed duplicates: 2" in res.output and "[urgent] charged twice" in res.output
    res = run("complaints", "merge", "1", "--into", "2", "--reason", "same")
    assert res.exit_code == 1 and "complaint 2 is already merged into 1" in res.output
    assert "merged" in run("complaints", "list", "--status", "merged").output
    res = run("complaints", "show", "999")
    assert res.exit_code == 1 and "not found" in res.output


def test_bad_rows_exit_code_and_message(cli_env, tmp_path):
    assert run("db", "upgrade").exit_code == 0
    feed = tmp_path / "bad.csv"
    feed.write_text("external_ref,received_at,category\nB1,2026-03-02T09:00:00Z,x\nB2,not-a-date,x\n",
                    encoding="utf-8")
    res = runner.invoke(app, ["import", str(feed)])
    assert res.exit_code == 1
    assert "line 3" in res.output and "received_at" in res.output and "nothing imported" in res.output
    assert json.loads(run("stats", "--json").stdout)["complaints"] == 0
    res = runner.invoke(app, ["import", str(feed), "--skip-bad-rows", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["created"] == 1


def test_config_validate_names_the_field(cli_env, tmp_path):
    assert run("config", "validate").exit_code == 0
    assert run("config", "validate", str(ROOT / "examples" / "nyc311.toml")).exit_code == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('[departments.a]\ndisplay_name = "A"\n[fallback]\n[[fallback.tasks]]\n'
                   'department = "b"\nkind = "triage"\ntitle = "t"\n', encoding="utf-8")
    res = runner.invoke(app, ["config", "validate", str(bad)])
    assert res.exit_code == 2 and "routing.fallback.tasks.triage.department" in res.output


def test_outbox_lists_failed_messages_with_their_error(cli_env):
    from datetime import datetime

    from sqlalchemy import insert
    from sqlalchemy.orm import sessionmaker

    from models.db import make_engine
    from models.tables import Outbox

    assert run("db", "upgrade").exit_code == 0
    import os

    engine = make_engine(os.environ["CLOSELOOP_DATABASE_URL"])
    at = datetime(2026, 3, 2, tzinfo=UTC)
    with sessionmaker(engine).begin() as s:
        s.execute(insert(Outbox.__table__).values(
            idempotency_key="k1", channel="webhook", target="https://x", recipient="ops", subject="s", body="b",
            payload={}, status="dead", dead_reason="rejected", attempts=8, next_attempt_at=at, created_at=at,
            last_error="HTTP 400: bad request"))
    engine.dispose()
    res = run("outbox", "--status", "dead")
    assert res.exit_code == 0 and "HTTP 400: bad request" in res.output and "dead (rejected)" in res.output
    assert "1 dead letters" in res.output
    assert run("outbox", "--status", "nope").exit_code == 2
    [doc] = json.loads(run("outbox", "--json").output)
    assert (doc["status"], doc["dead_reason"], doc["idempotency_key"]) == ("dead", "rejected", "k1")
    assert run("outbox", "retry").exit_code == 2
    res = run("outbox", "retry", str(doc["id"]), "--actor", "li")
    assert res.exit_code == 0 and "re-queued 1 dead letters" in res.output
    [doc] = json.loads(run("outbox", "--json").output)
    assert (doc["status"], doc["requeues"], doc["idempotency_key"]) == ("pending", 1, "k1")
    res = run("outbox", "retry", str(doc["id"]))
    assert res.exit_code == 1 and f"not dead letters (left alone): {doc['id']} (pending)" in res.output
    # an id that names no message is said to be one, distinct from a message that is not a dead letter; with
    # it, nothing is re-queued
    res = run("outbox", "retry", "999999")
    assert res.exit_code == 1 and "error: no such outbox message: 999999" in res.output
    assert "not dead letters" not in res.output and "re-queued 0" not in res.output


def _commands(typer_app, prefix=""):
    for info in typer_app.registered_commands:
        yield prefix + (info.name or info.callback.__name__), info.callback
    for group in typer_app.registered_groups:
        yield from _commands(group.typer_instance, prefix + group.name + " ")


def test_every_command_reports_domain_errors_through_the_one_wrapper(cli_env):
    unwrapped = [name for name, cb in _commands(app) if not hasattr(cb, "__wrapped__")]
    assert unwrapped == []
    assert run("db", "upgrade").exit_code == 0
    res = runner.invoke(app, ["tasks", "ack", "999"])
    assert res.exit_code == 1
    assert "error: task 999 not found" in res.output and "Traceback" not in res.output
    res = runner.invoke(app, ["complaints", "reopen", "1", "--reason", " "])  # unknown complaint: not found
    assert res.exit_code == 1 and "error:" in res.output


@pytest.mark.parametrize(("args", "shown"), [
    (["tasks", "show", "99999999999999999999"], "TASK_ID"),
    (["complaints", "show", "2147483648"], "COMPLAINT_ID"),
    (["tasks", "ack", "-99999999999"], "TASK_ID"),
    (["complaints", "merge", "1", "--into", "99999999999999999999", "--reason", "x"], "--into"),
    (["improvements", "link", "1", "2", "99999999999999999999"], "COMPLAINT"),
])
def test_a_number_beyond_any_id_is_one_error_line_naming_the_parameter(cli_env, args, shown):
    """SQLite's driver fails on an integer beyond 64 bits (OverflowError), PostgreSQL's on one beyond the column:
    every command refuses such a number first, exit 2, no traceback."""
    assert run("db", "upgrade").exit_code == 0
    res = runner.invoke(app, args if args[2] != "-99999999999" else [*args[:2], "--", args[2]])
    assert res.exit_code == 2, res.output
    assert f"error: {shown}: " in res.output and "out of range (at most 2,147,483,647)" in res.output
    assert "Traceback" not in res.output


def test_the_demo_finds_its_bundled_samples_and_configurations():
    from closeloop.cli.replay import BUNDLED

    for name, data, conf in BUNDLED:
        assert data.is_file(), (name, data)  # `make demo` replays these with no argument
        assert conf is None or conf.is_file(), (name, conf)


def _head(src: str, rows: int, dest):
    lines = (ROOT / "examples" / src).read_text(encoding="utf-8").splitlines()[:rows + 1]
    dest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(dest)


def test_import_notes_the_configuration_a_replay_would_pick_for_the_format(cli_env, monkeypatch):
    assert run("db", "upgrade").exit_code == 0
    nyc = _head("nyc311_sample.csv", 3, cli_env / "nyc.csv")
    res = run("import", nyc, "--json")
    assert res.exit_code == 0, res.output
    assert "note: nyc.csv is a nyc311 export" in res.stderr
    assert "pass --config examples/nyc311.toml" in " ".join(res.stderr.split())
    res = run("import", _head("cfpb_sample.csv", 3, cli_env / "cfpb.csv"), "--json")
    assert res.exit_code == 0 and "note:" not in res.stderr  # the default configuration is CFPB's own
    res = run("import", nyc, "--json", "--config", str(ROOT / "examples" / "nyc311.toml"))
    assert res.exit_code == 0 and "note:" not in res.stderr  # a configuration was chosen
    cfpb_as_nyc = runner.invoke(app, ["import", str(cli_env / "cfpb.csv"), "--format", "nyc311"])
    assert cfpb_as_nyc.exit_code == 2 and "note:" not in cfpb_as_nyc.output  # not a nyc311 file: no such note
    assert "does not have the columns of format 'nyc311'" in " ".join(cfpb_as_nyc.output.split())
    res = run("import", nyc, "--json", "--format", "nyc311")  # the format named and right: the note stays
    assert "note: nyc.csv is a nyc311 export" in res.stderr
    monkeypatch.setenv("CLOSELOOP_CONFIG", str(ROOT / "examples" / "nyc311.toml"))
    res = run("import", nyc, "--json")
    assert res.exit_code == 0 and "note:" not in res.stderr


def test_import_names_the_required_column_an_export_lacks(cli_env):
    assert run("db", "upgrade").exit_code == 0
    with open(ROOT / "examples" / "cfpb_sample.csv", newline="", encoding="utf-8") as fh:
        rows = [row for _, row in zip(range(3), csv.reader(fh), strict=False)]
    assert rows[0][0] == "Date received"
    with open(cli_env / "nodate.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(row[1:] for row in rows)  # every column but 'Date received'
    res = run("import", str(cli_env / "nodate.csv"))
    assert res.exit_code == 2 and "closest: format 'cfpb', but it lacks 'Date received'" in " ".join(res.output.split())
    res = run("import", str(cli_env / "nodate.csv"), "--format", "cfpb")
    assert res.exit_code == 2 and "it lacks 'Date received'" in " ".join(res.output.split())


def test_version_prints_the_installed_version():
    from importlib.metadata import version

    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"closeloop {version('closeloop')}"


def test_an_illegal_transition_lists_only_the_commands_that_apply(cli_env, tmp_path):
    """A done task said "allowed triggers: reopen" (there is no ``tasks reopen``: the engine reopens it), an open
    one listed ``block`` (the engine's, for a task waiting on another one); now the commands that apply, by name."""
    assert run("db", "upgrade").exit_code == 0
    feed = tmp_path / "feed.csv"
    feed.write_text("external_ref,received_at,customer_ref,category,product,text\n"
                    "F1,2026-03-02T09:00:00+08:00,c1,Credit reporting,Credit reporting,wrong entry\n", encoding="utf-8")
    assert run("import", str(feed)).exit_code == 0  # task 1 operations investigate (open), 2 service respond (blocked)

    def error(*args: str) -> str:
        res = runner.invoke(app, list(args))
        assert res.exit_code == 1, res.output
        return " ".join(res.output.split())  # rich wraps at the terminal's width

    assert error("tasks", "resume", "1") == (
        "error: task in state 'open' cannot take trigger 'resume'; allowed commands: tasks ack, tasks cancel, "
        "tasks complete, tasks pause, tasks start, tasks transfer")
    assert error("tasks", "start", "2") == ("error: task in state 'blocked' cannot take trigger 'start'; "
                                            "allowed commands: tasks cancel, tasks transfer")
    assert error("complaints", "close", "1", "--reason", "done") == (
        "error: complaint in state 'triaged' cannot take trigger 'close'; allowed commands: complaints merge, "
        "complaints resolve, complaints wait")
    assert run("tasks", "complete", "1", "--outcome", "corrected").exit_code == 0
    assert error("tasks", "start", "1") == ("error: task in state 'done' cannot take trigger 'start'; "
                                            "no command you can use is allowed in this state")


def test_every_command_an_illegal_transition_names_exists():
    from closeloop.cli.common import COMMANDS

    tree = typer.main.get_command(app).commands
    for noun, usable in COMMANDS.values():
        for label in usable.values():
            if noun == "command":
                group, command = label.split()
                assert command in tree[group].commands, label
    assert set(COMMANDS["improvement"][1]) == set(tree["improvements"].commands["fire"].params[1].help.split(", "))


def test_tables_show_instants_to_the_second(cli_env, tmp_path):
    """The audit rows of a change made now carry the clock's microseconds; a table shows them to the second (a
    new user saw `2026-12-07T09:46:07.907956-05...` cut in a column). ``--json`` keeps full precision."""
    assert run("db", "upgrade").exit_code == 0
    feed = tmp_path / "feed.csv"
    feed.write_text("external_ref,received_at,product,text\nS1,2026-03-02T09:00:00+08:00,Mortgage,late fee\n",
                    encoding="utf-8")
    assert run("import", str(feed)).exit_code == 0
    acked = run("tasks", "ack", "1")
    assert acked.exit_code == 0
    shown = run("tasks", "show", "1").output
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", shown)  # the history's instants
    assert not re.search(r"T\d\d:\d\d:\d\d\.\d", shown)


def test_a_title_cut_for_its_column_ends_with_an_ellipsis(cli_env, tmp_path):
    """'Check the product terms and modification policy involved' (57 characters) in the 50 of the queue's
    title column: cut with an ellipsis, not silently mid-word."""
    assert run("db", "upgrade").exit_code == 0
    feed = tmp_path / "feed.csv"
    feed.write_text("external_ref,received_at,product,text\nM1,2026-03-02T09:00:00+08:00,Mortgage,escrow\n",
                    encoding="utf-8")
    assert run("import", str(feed)).exit_code == 0
    res = runner.invoke(app, ["tasks", "list", "--department", "product"], env={"COLUMNS": "200"})
    assert "Check the product terms and modification policy…" in res.output, res.output


def test_a_replay_seed_takes_any_integer():
    """The range check is for numbers the database or a date reads; ``replay --seed`` only seeds ``random``: it
    says so on the parameter (``AnyInt``), not by its name, so another command's ``seed`` is checked."""
    from closeloop.cli.common import _check_numbers, _not_stored, _reporting
    from closeloop.cli.replay import replay_cmd

    assert _not_stored(replay_cmd) == {"seed"}
    _check_numbers({"seed": 3_000_000_000, "limit": 5}, {}, _not_stored(replay_cmd))  # no exit
    with pytest.raises(typer.Exit):
        _check_numbers({"task_id": 3_000_000_000}, {"task_id": "TASK_ID"})
    assert _reporting(_free_seed)(seed=3_000_000_000) == 3_000_000_000
    with pytest.raises(typer.Exit):
        _reporting(_stored_seed)(seed=3_000_000_000)


def _stored_seed(seed: int = typer.Option(0, "--seed")) -> int:
    return seed


def _free_seed(seed: AnyInt = typer.Option(0, "--seed")) -> int:  # module level: the hints resolve in its globals
    return seed


@pytest.mark.parametrize("cmd", [["complaints", "root-cause", "1", "undetermined"],
                                 ["complaints", "resolve", "1", "--reason", "solved on the call", "--root-cause",
                                  "undetermined"]])
def test_a_domain_error_names_the_option_as_typed(cli_env, tmp_path, cmd):
    """An ``InvalidInput`` about a parameter of the command names it as the command line spells it (the
    root-cause note was reported as ``note``, a name no interface has); ``--note`` stays accepted."""
    assert run("db", "upgrade").exit_code == 0
    src = tmp_path / "one.csv"
    _head("cfpb_sample.csv", 1, src)
    assert run("import", str(src)).exit_code == 0
    res = run(*cmd)
    assert res.exit_code == 2 and "error: --root-cause-detail: an undetermined root cause needs a note" in res.output
    res = run(*cmd, "--note", "checked the ledger and the call log; no cause found")
    assert res.exit_code == 0, res.output


def test_tasks_remind_refuses_an_instant_in_the_past_naming_at(cli_env, tmp_path, monkeypatch):
    monkeypatch.setenv("CLOSELOOP_CLOCK_AT", "2026-03-02T09:00:00+00:00")
    assert run("db", "upgrade").exit_code == 0
    src = tmp_path / "one.csv"
    _head("cfpb_sample.csv", 1, src)
    assert run("import", str(src)).exit_code == 0
    res = run("tasks", "remind", "1", "--at", "2026-03-02T16:59:00+08:00")
    assert res.exit_code == 2, res.output
    assert " ".join(res.output.split()) == ("error: --at: 2026-03-02T16:59:00+08:00 is in the past (now "
                                           "2026-03-02T17:00:00+08:00); a reminder is set for a later instant")
    res = run("tasks", "remind", "1", "--at", "2026-03-02T09:00:00Z")  # now: remind at once
    assert res.exit_code == 0 and "reminder manual_reminder:1:" in res.output, res.output
    helped = " ".join(run("tasks", "remind", "--help").output.split())
    assert "not in the past" in helped


def test_a_sweep_from_the_command_line_is_recorded_like_a_scheduled_one(cli_env):
    """``closeloop sweep --once`` stores its run in ``engine_run`` (what /metrics' ``closeloop_engine_runs_last_hour``
    and ``closeloop_engine_last_run_age_seconds`` read): it had kept them at 0 and -1 while deliver --once counted."""
    from datetime import datetime, timedelta

    from closeloop.services.engine.engine_runs import RunKind, run_stats
    from models.db import make_engine, make_sessions

    assert run("db", "upgrade").exit_code == 0
    assert run("sweep", "--once").exit_code == 0
    engine = make_engine(f"sqlite:///{cli_env / 'cli.db'}")
    try:
        stats = run_stats(make_sessions(engine), RunKind.SWEEP, datetime.now(UTC), timedelta(hours=1))
    finally:
        engine.dispose()
    assert stats.runs == 1 and stats.failed == 0 and stats.last_finished_at is not None
    assert set(stats.counts) >= {"fired", "rescheduled", "notifications", "messages", "tasks_created"}
