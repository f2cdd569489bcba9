"""One format on the console of ``closeloop serve``: Prefect's lines in closeloop's JSON, once each.

Each case runs in a fresh Python process (logging is process-wide state): Prefect configures its logging when
it is imported, as it is in ``closeloop serve`` and in every flow-run process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from closeloop.logs import PREFECT_LOGGING_YML


def _stderr_lines(code: str, **env: str) -> list[str]:
    run_env = {k: v for k, v in os.environ.items() if k != "PREFECT_LOGGING_SETTINGS_PATH"}
    run_env.update(env, PREFECT_SERVER_ANALYTICS_ENABLED="false")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=run_env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [line for line in proc.stderr.splitlines() if line.strip()]


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_serve_prints_each_prefect_line_once_in_its_format(fmt):
    """Prefect's console handler on the root logger printed every line beside ours: twice, in two formats."""
    lines = _stderr_lines(
        "import logging, prefect\n"
        "from closeloop.logs import configure_logging\n"
        f"configure_logging({fmt!r})\n"
        "logging.getLogger('prefect.runner').info('Pausing all deployments...')\n"
        "logging.getLogger('uvicorn.error').warning('port busy')\n")
    assert len(lines) == 2, lines
    if fmt == "json":
        docs = [json.loads(line) for line in lines]
        assert [(d["logger"], d["msg"]) for d in docs] == [("prefect.runner", "Pausing all deployments..."),
                                                           ("uvicorn.error", "port busy")]
    else:
        assert lines[0].endswith("INFO prefect.runner Pausing all deployments...")


def test_flow_run_processes_log_closeloop_json_with_the_run_name_and_no_other_extras():
    """A flow-run process (Prefect's logging set up from ``PREFECT_LOGGING_SETTINGS_PATH``, as ``serve`` sets it)
    writes closeloop's JSON: the run's name and id kept, an extra outside the whitelist dropped."""
    (line,) = _stderr_lines(
        "import logging\n"
        "from prefect.logging.configuration import setup_logging\n"
        "setup_logging()\n"
        "logging.getLogger('prefect.flow_runs').info('Finished in state Completed()', extra={\n"
        "    'flow_run_name': 'teal-mushroom', 'flow_run_id': 'abc', 'send_to_api': False,\n"
        "    'email': 'someone@example.com'})\n",
        PREFECT_LOGGING_SETTINGS_PATH=str(PREFECT_LOGGING_YML))
    doc = json.loads(line)
    assert (doc["logger"], doc["msg"], doc["flow_run_name"], doc["flow_run_id"]) == (
        "prefect.flow_runs", "Finished in state Completed()", "teal-mushroom", "abc")
    assert "email" not in doc and "someone" not in line


def test_serve_points_flow_runs_at_the_json_configuration_unless_one_is_set(monkeypatch):
    from closeloop.logs import json_for_prefect_runs

    monkeypatch.delenv("PREFECT_LOGGING_SETTINGS_PATH", raising=False)
    json_for_prefect_runs("text")
    assert "PREFECT_LOGGING_SETTINGS_PATH" not in os.environ
    json_for_prefect_runs("json")
    assert os.environ["PREFECT_LOGGING_SETTINGS_PATH"] == str(PREFECT_LOGGING_YML)
    monkeypatch.setenv("PREFECT_LOGGING_SETTINGS_PATH", "/etc/ops/logging.yml")
    json_for_prefect_runs("json")
    assert os.environ["PREFECT_LOGGING_SETTINGS_PATH"] == "/etc/ops/logging.yml"
