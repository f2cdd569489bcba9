"""Issue 14 §3: ``closeloop users add|list`` and ``closeloop tokens create --user``."""

from __future__ import annotations

import json
import sqlite3

from typer.testing import CliRunner


def test_users_add_list_and_a_token_of_a_user(tmp_path, monkeypatch):
    from closeloop.cli import app

    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'u.db'}")
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, list(args), catch_exceptions=False)

    assert run("db", "upgrade").exit_code == 0
    ok = run("users", "add", "wang.li", "--name", "王丽", "--role", "lead", "-d", "operations", "-d", "service",
             "--language", "zh", "--notify", "mailto:wang.li@example.com")
    assert ok.exit_code == 0 and "@wang.li" in ok.output, ok.output
    bad = run("users", "add", "ann", "--name", "Ann", "-d", "nowhere")
    assert bad.exit_code == 2 and "error: --department: " in bad.output and "nowhere" in bad.output
    ftp = run("users", "add", "ann", "--name", "Ann", "-d", "operations", "--notify", "ftp://x")
    assert ftp.exit_code == 2 and "error: --notify: " in ftp.output and "Apprise" in ftp.output, ftp.output
    taken = run("users", "add", "Wang.Li", "--name", "Other", "-d", "operations")
    assert taken.exit_code == 2 and "error: HANDLE: " in taken.output  # the argument as the usage line names it
    users = json.loads(run("users", "list", "--json").output)
    assert [(u["handle"], u["departments"], u["notify"]) for u in users] == [
        ("wang.li", ["operations", "service"], "wang.li@example.com")]
    assert "王丽" in run("users", "list").output
    token = run("tokens", "create", "--role", "lead", "-d", "service", "--user", "wang.li")
    assert token.exit_code == 0 and token.output.startswith("cl_")
    wrong = run("tokens", "create", "--role", "member", "-d", "operations", "--user", "wang.li")
    assert wrong.exit_code == 2 and "is a lead" in wrong.output
    listed = json.loads(run("tokens", "list", "--json").output)
    assert listed[0]["user_id"] == users[0]["id"]
    path = tmp_path / "one.csv"
    path.write_text("external_ref,received_at,product,text\nN-1,2026-03-02T09:00:00+08:00,Mortgage,late fee\n",
                    encoding="utf-8")
    assert run("import", str(path)).exit_code == 0
    note = run("complaints", "note", "1", "--text", "@wang.li see the fee")
    assert note.exit_code == 0 and "notified @wang.li" in note.output, note.output
    unknown = run("complaints", "note", "1", "--text", "@nobody see")
    assert unknown.exit_code == 2 and "@nobody" in unknown.output  # bad input: exit 2 (cli/common.exit_code)
    with sqlite3.connect(tmp_path / "u.db") as db:
        (task_id,) = db.execute("SELECT min(id) FROM task WHERE department = 'operations'").fetchone()
    task_id = str(task_id)
    by_user = run("tasks", "assign", task_id, "@wang.li")
    assert by_user.exit_code == 0 and "assigned to the user wang.li" in by_user.output, by_user.output
    free = run("tasks", "assign", task_id, "zed")
    assert free.exit_code == 0
    assert "assigned to 'zed' (no user by that name: free text, nobody is notified)" in " ".join(free.output.split())
