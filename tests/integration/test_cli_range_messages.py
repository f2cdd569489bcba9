"""A refused number's message says what is accepted: "greater than 0" where 0 itself is refused (it had said
"between 0 and 2000", which reads as 0 being allowed)."""

from __future__ import annotations

from tests.conftest import ROOT

from .test_cli import cli_env, run  # noqa: F401 - the fixture is used by name


def test_zero_business_hours_is_refused_in_words_that_refuse_zero(cli_env):  # noqa: F811
    assert run("db", "upgrade").exit_code == 0
    assert run("import", str(ROOT / "examples" / "cfpb_sample.csv")).exit_code == 0
    for hours in ("0", "2000.5"):
        res = run("promises", "make", "1", "-d", "operations", "--kind", "call_back", "--business-hours", hours)
        assert res.exit_code != 0 and "greater than 0 and at most 2000 business hours" in res.output, res.output
        assert "between" not in res.output
    for hours in ("0", "10001"):
        res = run("complaints", "wait", "1", "--reason", "documents", "--max-hours", hours)
        assert res.exit_code != 0 and "greater than 0 and at most 10000" in res.output, res.output
        assert "between" not in res.output


def test_a_refused_wait_names_the_option_as_typed(cli_env):  # noqa: F811
    assert run("db", "upgrade").exit_code == 0
    assert run("import", str(ROOT / "examples" / "cfpb_sample.csv")).exit_code == 0
    res = run("complaints", "wait", "1", "--reason", "r", "--max-hours", "-5")
    assert res.exit_code != 0 and "--max-hours" in res.output, res.output
    assert "max_business_hours" not in res.output


def test_a_review_month_out_of_range_names_the_range(cli_env):  # noqa: F811
    assert run("db", "upgrade").exit_code == 0
    res = run("report", "review", "--period", "1899-01")
    assert res.exit_code != 0 and "out of range: a month from 1970-01 to 9999-11" in res.output, res.output
    assert "YYYY-MM" not in res.output


def test_a_refused_action_due_date_names_the_option_as_typed(cli_env):  # noqa: F811
    """``improvements add-action --business-days 0`` said "business_days: must be between 1 and 365": the
    command's parameter was named ``days``, so the error kept the service's name instead of the option's."""
    assert run("db", "upgrade").exit_code == 0
    assert run("import", str(ROOT / "examples" / "cfpb_sample.csv")).exit_code == 0
    res = run("improvements", "create", "--title", "Escrow", "--owner", "operations", "--complaint", "1")
    assert res.exit_code == 0, res.output
    res = run("improvements", "add-action", "1", "--kind", "corrective", "--department", "operations",
              "--title", "fix", "--business-days", "0")
    assert res.exit_code == 2 and "--business-days: must be between 1 and 365" in res.output, res.output


def test_a_refused_note_or_message_names_text_as_typed(cli_env):  # noqa: F811
    """``complaints note --text ''`` said "body: a note needs text" (and an inbound ``complaints reply`` "body: a
    message needs text"): the services name the field ``body``, the command has no ``--body``."""
    assert run("db", "upgrade").exit_code == 0
    assert run("import", str(ROOT / "examples" / "cfpb_sample.csv")).exit_code == 0
    for args, problem in ((("note", "1", "--text", " "), "a note needs text"),
                          (("note", "1", "--text", "@nobody look"), "@nobody: no user has this handle"),
                          (("reply", "1", "--text", ""), "a message needs text"),
                          (("reply", "1", "--text", "", "--outbound"), "a reply needs text")):
        res = run("complaints", *args)
        assert res.exit_code == 2 and f"error: --text: {problem}" in res.output, (args, res.output)
        assert "error: body" not in res.output


def test_a_refused_department_of_a_user_names_the_option_as_typed(cli_env):  # noqa: F811
    """``users add ann --name Ann -d nowhere`` said "departments: unknown department": the command has
    ``--department``/``-d`` only."""
    assert run("db", "upgrade").exit_code == 0
    for args, problem in ((("-d", "nowhere"), "unknown department 'nowhere'"),
                          ((), "a member works for at least one department")):
        res = run("users", "add", "ann", "--name", "Ann", *args)
        assert res.exit_code == 2 and f"error: --department: {problem}" in res.output, (args, res.output)


def test_a_refused_improvement_names_owner_and_note_as_typed(cli_env):  # noqa: F811
    """``improvements create --owner nowhere`` said "owner_department: ...", and an undetermined root cause
    without ``--note`` "root_cause_detail: ..." (create and fire approve): options the command does not have."""
    assert run("db", "upgrade").exit_code == 0
    assert run("import", str(ROOT / "examples" / "cfpb_sample.csv")).exit_code == 0
    res = run("improvements", "create", "--title", "t", "--owner", "nowhere", "--complaint", "1")
    assert res.exit_code == 2 and "error: --owner: unknown department 'nowhere'" in res.output, res.output
    needs_note = "error: --note: an undetermined root cause needs a note"
    res = run("improvements", "create", "--title", "t", "--owner", "operations", "--complaint", "1",
              "--root-cause", "undetermined")
    assert res.exit_code == 2 and needs_note in res.output, res.output
    assert run("improvements", "create", "--title", "t", "--owner", "operations", "--complaint", "1").exit_code == 0
    res = run("improvements", "fire", "1", "approve", "--root-cause", "undetermined")
    assert res.exit_code == 2 and needs_note in res.output, res.output
