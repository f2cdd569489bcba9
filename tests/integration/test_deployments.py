"""One list of deployments: ``deploy/prefect.yaml`` as Prefect's own ``prefect deploy`` reads it, and as
``closeloop serve`` serves it (``flows/deployments.py``), agree; every flow has a timeout and a retry policy."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml
from prefect import Flow
from prefect.cli.deploy._models import PrefectYamlModel
from prefect.cli.deploy._schedules import _schedule_config_to_deployment_schedule

import flows.schedules as sched
from closeloop.config import load_config
from flows.deployments import DEFAULT_PATH, DeploymentFileError, load_specs, runner_deployments
from flows.serve import deployments as serve_deployments

ROOT = Path(__file__).resolve().parents[2]
SCHEDULED = {"sweep", "deliver", "overdue-digest", "monthly-review"}


@pytest.fixture(scope="module")
def prefect_view() -> dict[str, dict]:
    """The deployments as Prefect's CLI model validates them (the path `prefect deploy --all` takes)."""
    raw = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    model = PrefectYamlModel.model_validate(raw)
    return {d["name"]: d for d in (m.model_dump(exclude_unset=True, mode="json") for m in model.deployments)}


def _schedule_key(s) -> tuple:
    s = s.model_dump() if hasattr(s, "model_dump") else s
    inner = s["schedule"]
    inner = inner.model_dump() if hasattr(inner, "model_dump") else inner
    return (inner.get("cron"), inner.get("interval"), inner.get("timezone") if inner.get("cron") else None,
            s.get("active", True))


def test_every_scheduled_flow_and_the_import_is_a_deployment_on_the_process_pool(prefect_view):
    assert SCHEDULED | {"import-exports", "purge"} <= set(prefect_view)
    for name, d in prefect_view.items():
        assert d["work_pool"]["name"] == "closeloop", name
        assert "closeloop" in d["tags"], name
        assert d["description"], name
        if name in SCHEDULED | {"purge"}:
            assert d["schedules"], f"{name} has no schedule"
    assert prefect_view["import-exports"]["schedules"] == []


def test_serve_builds_exactly_what_prefect_deploy_reads(prefect_view):
    served = {d.name: d for d in serve_deployments(load_config())}
    assert set(served) == set(prefect_view)
    for name, d in prefect_view.items():
        r = served[name]
        assert r.entrypoint == d["entrypoint"], name  # Prefect derives the served entrypoint from the flow object
        assert sorted(r.tags) == sorted(d["tags"]), name
        assert r.parameters == d.get("parameters", {}), name
        limit = d.get("concurrency_limit")
        assert (r.concurrency_limit or None) == (limit["limit"] if isinstance(limit, dict) else limit), name
        theirs = sorted(_schedule_key(_schedule_config_to_deployment_schedule(s)) for s in d["schedules"])
        ours = sorted(_schedule_key(s) for s in r.schedules)
        assert ours == theirs, name


def test_only_the_import_relies_on_a_prefect_concurrency_slot(prefect_view):
    """A crash can leave a Prefect slot taken (in-memory leases); the engine's flows must not depend on one."""
    limited = {n for n, d in prefect_view.items() if d.get("concurrency_limit")}
    assert limited == {"import-exports"}


def test_parameters_exist_on_the_flows_and_required_ones_are_left_to_the_caller():
    for spec in load_specs():
        fl = spec.load_flow()
        assert isinstance(fl, Flow), spec.name
        sig = inspect.signature(fl.fn)
        assert set(spec.parameters) <= set(sig.parameters), (spec.name, set(spec.parameters) - set(sig.parameters))
        required = {p for p, v in sig.parameters.items() if v.default is inspect.Parameter.empty}
        if spec.schedules:
            assert required <= set(spec.parameters), f"scheduled {spec.name} lacks {required}"


def test_every_flow_has_its_timeout_and_retry_policy():
    flows = [spec.load_flow() for spec in load_specs()]
    assert {f.name for f in flows} == set(sched.POLICIES)
    for f in flows:
        timeout, retries, delay = sched.POLICIES[f.name]
        assert (f.timeout_seconds, f.retries, f.retry_delay_seconds) == (timeout, retries, delay), f.name
        assert f.timeout_seconds > 0
    # a sweep that hangs ends before the next one is due
    sweep_interval = next(s["interval"] for spec in load_specs() if spec.name == "sweep" for s in spec.schedules)
    assert sched.POLICIES["sweep"][0] < sweep_interval


def test_the_schedule_constants_mirror_the_file():
    by_name = {spec.name: spec.schedules[0] for spec in load_specs() if spec.schedules}
    assert by_name["sweep"]["interval"] == sched.SWEEP_INTERVAL_SECONDS
    assert by_name["deliver"]["interval"] == sched.DELIVER_INTERVAL_SECONDS
    assert by_name["overdue-digest"]["interval"] == sched.OVERDUE_DIGEST_INTERVAL_SECONDS
    assert by_name["monthly-review"]["cron"] == sched.MONTHLY_REVIEW_CRON


def test_cron_zone_is_the_default_customer_and_managers_zone():
    config = load_config()
    zone = str(config.calendar(config.model.escalation.operations_manager.calendar).zone)
    crons = [s for spec in load_specs() for s in spec.schedules if "cron" in s]
    assert crons and {s["timezone"] for s in crons} == {zone}


def test_env_placeholders_resolve_and_a_bad_file_is_named(tmp_path, monkeypatch):
    f = tmp_path / "prefect.yaml"
    f.write_text("deployments:\n  - name: sweep\n    entrypoint: flows/sweep.py:sweep_flow\n"
                 "    schedules:\n      - cron: '0 1 * * *'\n        timezone: '{{ $CL_TEST_TZ }}'\n", encoding="utf-8")
    monkeypatch.setenv("CL_TEST_TZ", "Asia/Shanghai")
    [spec] = load_specs(f)
    [d] = runner_deployments([spec])
    assert d.schedules[0].schedule.timezone == "Asia/Shanghai"
    f.write_text("deployments:\n  - name: x\n    entrypoint: flows/sweep.py\n", encoding="utf-8")
    with pytest.raises(DeploymentFileError, match=r"deployments\[0\].*entrypoint"):
        load_specs(f)
    with pytest.raises(DeploymentFileError, match="no such file"):
        load_specs(tmp_path / "absent.yaml")


def test_an_import_retries_transient_errors_only():
    import asyncio

    from prefect.states import exception_to_failed_state

    from closeloop.services.intake.importing import ImportReport
    from flows.intake import ImportRunFailed, _transient, import_one

    assert import_one.retries == 2 and import_one.retry_condition_fn is _transient
    transient = asyncio.run(exception_to_failed_state(ConnectionError("server closed the connection")))
    bad_file = asyncio.run(exception_to_failed_state(ImportRunFailed(ImportReport(path="x.csv", bad_rows=3))))
    assert _transient(import_one, None, transient) is True
    assert _transient(import_one, None, bad_file) is False


def _readme_table() -> dict[str, list[str]]:
    """deploy/README.md's deployments table: name -> its cells (flow, schedule, timeout/retries, what)."""
    text = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## The deployments"):text.index("## 1.")]
    rows = [line.strip().strip("|").strip().split(" | ") for line in section.splitlines() if line.startswith("| `")]
    return {cells[0].strip("`"): [c.strip() for c in cells[1:]] for cells in rows}


def test_the_readme_table_lists_every_deployment_with_its_flow_schedule_and_policy():
    """The table that calls itself the one list cannot drift from prefect.yaml: every deployment, its
    entrypoint, its schedule as written (`interval: N`, `cron: "..."` with its zone, or `schedules: []`)
    and its timeout."""
    table = _readme_table()
    specs = {spec.name: spec for spec in load_specs()}
    assert set(table) == set(specs)
    for name, spec in specs.items():
        flow, schedule, policy = table[name][:3]
        assert flow == f"`{spec.entrypoint}`", name
        if not spec.schedules:
            assert "`schedules: []`" in schedule, name
        for s in spec.schedules:
            assert (f"`interval: {s['interval']}`" if "interval" in s else f'`cron: "{s["cron"]}"`') in schedule, name
            if "cron" in s:
                assert "zone" in schedule, name
        assert policy.startswith(f"{sched.POLICIES[spec.load_flow().name][0]} s,"), name
    assert "customer calendar's zone" in table["monthly-review"][1]  # flows/review.py, flows/serve.py


def test_the_readme_sections_are_numbered_in_order():
    text = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    numbers = [int(line[3]) for line in text.splitlines() if line.startswith("## ") and line[3].isdigit()]
    assert numbers == sorted(numbers) == list(range(1, len(numbers) + 1))
