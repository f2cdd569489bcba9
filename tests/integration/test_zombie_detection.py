"""Issue 15, zombie detection: a flow run whose process died with its host stays "Running" unless Prefect is told
to notice. ``closeloop automations`` puts deploy/automations.yaml on a real Prefect server (idempotently), the work
pool's runs send heartbeats every 30 s (deploy/prefect.yaml), and the automation marks a run Crashed when its
heartbeats stop, or when it never sent one after it began Running (killed within a second of starting: CI stop 26),
while a run that finished after its heartbeat, and a run without the ``closeloop`` tag (another team's, on a shared
server), are left alone.

The run's process is emulated (a flow run set Running, one heartbeat event or none, then silence: what a kill -9
leaves);
the automation is applied once more with ``within`` shortened to a few seconds (the shipped 90 s would make the
test wait minutes), which also exercises the update path. Needs only Prefect (a local server on SQLite).
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from closeloop.cli import app as cli_app
from flows.automations import AUTOMATIONS_PATH, apply_automations, heartbeat_env, load_automations
from flows.serve import _free_port, start_local_server, stop_local_server

NAME = "closeloop: crash zombie flow runs"
FAST_WITHIN_S = 10  # Prefect's minimum for a proactive trigger
CRASH_BOUND_S = 90  # FAST_WITHIN_S plus the server's proactive evaluation and event pipeline, on a loaded machine


def test_the_shipped_automation_crashes_runs_whose_heartbeats_stop():
    [zombie] = load_automations()
    trigger = zombie.trigger
    assert zombie.name == NAME and zombie.enabled
    assert trigger.posture == "Proactive"
    assert trigger.after == {"prefect.flow-run.heartbeat", "prefect.flow-run.Running"}
    closeloop_runs = {"prefect.resource.id": "prefect.tag.closeloop", "prefect.resource.role": "tag"}
    assert trigger.match_related.model_dump() == closeloop_runs
    assert {"prefect.flow-run.heartbeat", "prefect.flow-run.Completed", "prefect.flow-run.Failed",
            "prefect.flow-run.Cancelled", "prefect.flow-run.Crashed"} <= trigger.expect
    assert trigger.for_each == {"prefect.resource.id"}
    [action] = zombie.actions
    assert (action.type, action.state.value) == ("change-flow-run-state", "CRASHED")
    beat = int(heartbeat_env()["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"])
    assert beat >= 30  # Prefect's minimum
    assert trigger.within.total_seconds() >= 3 * beat  # three missed beats, never one late beat


def test_prefect_reads_the_heartbeat_setting_the_work_pool_gives_its_runs(monkeypatch):
    from prefect.settings import Settings

    for key, value in heartbeat_env().items():
        monkeypatch.setenv(key, value)
    assert Settings().flows.heartbeat_frequency == 30


@pytest.fixture
def prefect_api(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    proc, url = start_local_server(timeout_s=240, port=_free_port(0))  # never 4200: other tests' servers
    try:
        yield url
    finally:
        stop_local_server(proc)


def _running_run(client, tags: tuple[str, ...] = ("closeloop", "sweep")) -> uuid.UUID:
    from prefect import flow
    from prefect.states import Running

    run = client.create_flow_run(flow(name="zombie-probe")(lambda: None), tags=list(tags))
    client.set_flow_run_state(run.id, Running(), force=True)
    return run.id


def _heartbeat(api: str, run_id: uuid.UUID, tags: tuple[str, ...] = ("closeloop", "sweep")) -> None:
    """A heartbeat as Prefect's flow engine sends it: the run's tags as related resources."""
    related = [{"prefect.resource.id": f"prefect.tag.{t}", "prefect.resource.role": "tag"} for t in tags]
    event = {"id": str(uuid.uuid4()), "occurred": datetime.now(UTC).isoformat(), "event": "prefect.flow-run.heartbeat",
             "resource": {"prefect.resource.id": f"prefect.flow-run.{run_id}"}, "related": related, "payload": {}}
    httpx.post(f"{api}/events", json=[event], timeout=10).raise_for_status()


def test_closeloop_automations_applies_once_and_a_silent_run_is_marked_crashed(prefect_api, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Completed

    runner = CliRunner()
    first = runner.invoke(cli_app, ["automations", "--api-url", prefect_api], catch_exceptions=False)
    assert first.exit_code == 0 and f"{NAME}: created" in first.output
    again = runner.invoke(cli_app, ["automations", "--api-url", prefect_api], catch_exceptions=False)
    assert again.exit_code == 0 and f"{NAME}: unchanged" in again.output

    fast = yaml.safe_load(AUTOMATIONS_PATH.read_text(encoding="utf-8"))
    fast["automations"][0]["trigger"]["within"] = FAST_WITHIN_S
    Path(tmp_path / "fast.yaml").write_text(yaml.safe_dump(fast), encoding="utf-8")
    assert apply_automations(prefect_api, tmp_path / "fast.yaml") == {NAME: "updated"}

    with temporary_settings({PREFECT_API_URL: prefect_api}), get_client(sync_client=True) as client:
        assert len(client.read_automations_by_name(NAME)) == 1
        zombie, unbeaten, finished = _running_run(client), _running_run(client), _running_run(client)
        foreign = _running_run(client, tags=("etl",))  # another team's run on a shared server
        _heartbeat(prefect_api, zombie)
        _heartbeat(prefect_api, finished)
        _heartbeat(prefect_api, foreign, tags=("etl",))
        client.set_flow_run_state(finished, Completed(), force=True)  # the server emits prefect.flow-run.Completed
        deadline = time.monotonic() + CRASH_BOUND_S

        def state(run_id: uuid.UUID) -> str:
            return client.read_flow_run(run_id).state.type.value

        while time.monotonic() < deadline and {state(zombie), state(unbeaten)} != {"CRASHED"}:
            time.sleep(1)
        assert state(zombie) == "CRASHED"  # heartbeats stopped
        assert state(unbeaten) == "CRASHED"  # killed before its first heartbeat left the process
        assert state(finished) == "COMPLETED"
        assert state(foreign) == "RUNNING"  # silent as long as the zombie, but not closeloop's
