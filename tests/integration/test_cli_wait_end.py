"""``complaints wait`` takes the wait's end as the API does: --max-hours and/or --until (the earlier applies)."""

from __future__ import annotations

from tests.conftest import ROOT

from .test_cli import cli_env, run  # noqa: F401 - the fixture is used by name


def test_wait_takes_an_until_as_well_as_a_maximum(cli_env):  # noqa: F811
    assert run("db", "upgrade").exit_code == 0
    assert run("import", str(ROOT / "examples" / "cfpb_sample.csv")).exit_code == 0
    res = run("complaints", "wait", "1", "--reason", "documents", "--until", "2099-01-01T00:00:00Z",
              "--max-hours", "8")
    assert res.exit_code == 0 and "awaiting_customer" in res.output, res.output
    res = run("complaints", "wait", "2", "--reason", "documents", "--until", "2099-01-01")  # no offset
    assert res.exit_code == 2 and "--until" in res.output, res.output
    show = run("complaints", "timeline", "1").output
    assert "await_customer" in show or "awaiting_customer" in show, show
