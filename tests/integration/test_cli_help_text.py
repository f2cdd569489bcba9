"""What the command line's help says: flags as flags (no ``<bool>``), serve names every deployment it serves (read
from deploy/prefect.yaml, the list serve reads), the outbox names every channel it delivers to."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from closeloop.cli import app
from closeloop.services.engine.notify import channel_of
from flows.deployments import load_specs

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


def test_serve_help_names_every_deployment_it_serves():
    text = _help("serve")
    specs = load_specs()
    assert len(specs) >= 7
    for spec in specs:
        assert re.search(rf"^\W*{re.escape(spec.name)}: ", text, re.M), (spec.name, text)
    assert "sweep: every 5 min" in text and "deliver: every minute" in text
    assert "every deployment of deploy/prefect.yaml" in text
    assert text.count("Serves these deployments") == 1 and _help("serve").count("sweep:") == 1  # shown twice


def test_outbox_and_deliver_help_name_every_channel():
    words = {"webhook": "webhook", "apprise": "Apprise", "email": "e-mail", "capture": "capture"}
    channels = {channel_of(t) for t in ("https://hooks.example/x", "mailto://u:p@example.com", "ops@example.com",
                                        "capture://ops")}
    assert channels == set(words)
    for args in (("outbox",), ("deliver",)):
        text = " ".join(_help(*args).split())
        for channel in channels:
            assert words[channel] in text, (args, channel, text)
