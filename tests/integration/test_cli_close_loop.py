"""The close-the-loop commands through Typer: improvements, compensation, root causes (SQLite file)."""

from __future__ import annotations

from tests.conftest import ROOT

from .test_cli import cli_env, run  # noqa: F401 - the fixture is used by name


def test_improvement_compensation_and_root_cause_commands(cli_env):  # noqa: F811
    assert run("db", "upgrade").exit_code == 0
    assert run("import", str(ROOT / "examples" / "cfpb_sample.csv")).exit_code == 0
    res = run("improvements", "create", "--title", "Bureau feed errors", "--owner", "operations",
              "--complaint", "1", "--complaint", "2", "--actor", "ops-manager")
    assert res.exit_code == 0 and "proposed" in res.output, res.output
    rid = res.output.split()[1]
    res = run("improvements", "fire", rid, "approve")
    assert res.exit_code == 2 and "error: --root-cause: " in res.output  # the option as typed
    assert "approved" in run("improvements", "fire", rid, "approve", "--root-cause", "information").output
    res = run("improvements", "fire", rid, "implement")
    assert res.exit_code == 1 and "in state 'approved'" in res.output
    assert "in_progress" in run("improvements", "fire", rid, "start").output
    res = run("improvements", "add-action", rid, "--kind", "corrective", "--department", "operations",
              "--title", "Fix the feed", "--business-days", "3")
    assert res.exit_code == 0 and "corrective" in res.output
    task_id = res.output.split()[1]
    assert run("tasks", "complete", task_id, "--outcome", "fixed").exit_code == 0
    res = run("improvements", "fire", rid, "implement")
    assert "implemented" in res.output and "effectiveness check due" in res.output
    show = run("improvements", "show", rid).output
    assert "Fix the feed" in show and "manual" in show and "implement" in show

    for money in ("1e3", "NaN", "inf", "-Infinity"):  # 1e3 was taken as 1000.00
        res = run("compensation", "add", "1", "--kind", "refund", "--amount", money, "--actor", "agent")
        assert res.exit_code == 2 and "--amount: " in res.output and "not a plain decimal" in res.output, res.output
    # above the cap the requester must be identified (a token): a free-text --actor could be anyone
    res = run("compensation", "add", "1", "--kind", "refund", "--amount", "999.00", "--actor", "agent")
    assert res.exit_code == 2 and "requester" in res.output and "--token" in res.output
    agent = run("tokens", "create", "--role", "manager", "--name", "agent").output.strip()
    res = run("compensation", "add", "1", "--kind", "refund", "--amount", "999.00", "--token", agent, "--actor", "x")
    assert res.exit_code == 2 and "--actor" in res.output
    assert run("compensation", "add", "1", "--kind", "refund", "--amount", "1", "--token", "cl_nope").exit_code == 2
    res = run("compensation", "add", "1", "--kind", "refund", "--amount", "999.00", "--token", agent)
    assert "compensation 1:" in res.output and "pending_approval" in res.output, res.output
    # the approver is the holder of a token, its role checked: --actor no longer names one
    assert run("compensation", "approve", "1", "--actor", "boss").exit_code == 2
    res = run("compensation", "approve", "1")
    assert res.exit_code == 2 and "--token" in res.output
    intern = run("tokens", "create", "--role", "member", "--department", "operations", "--name", "random-intern")
    res = run("compensation", "approve", "1", "--token", intern.output.strip())
    assert res.exit_code == 1 and "may not approve" in res.output
    res = run("compensation", "approve", "1", "--token", agent)
    assert res.exit_code in (1, 2) and "approver" in res.output  # the requester's own token
    boss = run("tokens", "create", "--role", "manager", "--name", "agent").output.strip()  # a namesake
    assert "approved by cli:agent (manager)" in run("compensation", "approve", "1", "--token", boss).output
    # a rejection says why: --note (or --reason), not blank
    assert "compensation 2:" in run("compensation", "add", "1", "--kind", "refund", "--amount", "5000.00",
                                    "--token", agent).output
    res = run("compensation", "reject", "2", "--token", boss)
    assert res.exit_code == 2 and "--note" in res.output, res.output
    res = run("compensation", "reject", "2", "--token", boss, "--note", "  ")
    assert res.exit_code == 2 and "error: --note: " in res.output, res.output
    res = run("compensation", "reject", "2", "--token", boss, "--reason", "over the budget")
    assert res.exit_code == 0 and "rejected" in res.output, res.output

    res = run("complaints", "resolve", "1", "--reason", "answered")
    assert res.exit_code == 2 and "error: --root-cause: " in res.output
    res = run("complaints", "resolve", "1", "--reason", "answered", "--root-cause", "undetermined")
    assert res.exit_code == 2 and "note" in res.output
    assert "resolved" in run("complaints", "resolve", "1", "--reason", "answered", "--root-cause",
                             "information.bureau").output
    show = run("complaints", "show", "1").output
    assert "root cause: information.bureau" in show and "999.00 USD" in show


def test_improvement_create_on_a_fresh_database_and_an_unknown_fact(cli_env):  # noqa: F811
    """Before any import the department table was empty (a foreign-key traceback); a fact that is not a
    complaint fact was stored and broke every later import."""
    assert run("db", "upgrade").exit_code == 0
    res = run("improvements", "create", "--title", "t", "--owner", "operations", "--match", "category=x")
    assert res.exit_code == 0 and "improvement 1 proposed" in res.output, res.output
    res = run("improvements", "create", "--title", "t", "--owner", "operations", "--match", "bogus=1")
    assert res.exit_code == 2 and "match" in res.output and "'bogus'" in res.output and "region" in res.output
    res = run("improvements", "create", "--title", "t", "--owner", "legal", "--match", "category=x")
    assert res.exit_code == 2 and "error: --owner: " in res.output
    assert run("import", str(ROOT / "examples" / "cfpb_sample.csv")).exit_code == 0
