"""What the command line's help says: flags as flags (no ``<bool>``)."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from closeloop.cli import app

runner = CliRunner()


def _help(*args: str) -> str:
    res = runner.invoke(app, [*args, "--help"], catch_exceptions=False, env={"COLUMNS": "140", "NO_COLOR": "1"})
    assert res.exit_code == 0, res.output
    return res.output


def test_flags_show_no_bool_type():
    for args in ((), ("users", "list"), ("deliver",), ("serve",), ("outbox",)):
        text = _help(*args)
        assert "<bool>" not in text, (args, text)
    assert re.search(r"--json\s+│", _help("users", "list"))  # the flag with nothing in the value column
