"""The Prefect automations of ``deploy/automations.yaml`` (zombie detection), applied to a Prefect server.

``closeloop automations`` (and ``closeloop serve`` at start) calls :func:`apply_automations`: each automation of the
file is matched by name on the server and created when absent, updated when it differs, left alone when equal,
so running it again (every deploy, every start) adds nothing. The flow runs' heartbeat interval the zombie
automation relies on is set for the work pool's runs in ``deploy/prefect.yaml`` (``job_variables.env``) and read
from there by :func:`heartbeat_env` for ``closeloop serve``: one value, one place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from flows.deployments import prefect_yaml_path

DEPLOY_DIR = Path(__file__).resolve().parent.parent / "deploy"
AUTOMATIONS_PATH = DEPLOY_DIR / "automations.yaml"
HEARTBEAT_ENV = "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"


def load_automations(path: Path | None = None) -> list:
    """The automations of ``path`` (default :data:`AUTOMATIONS_PATH`) as Prefect ``AutomationCore`` objects
    (validated: a malformed entry raises pydantic's ``ValidationError`` naming the field)."""
    # deferred: Prefect's modules load only when automations are read or applied (the CLI imports this module)
    from prefect.events.schemas.automations import AutomationCore

    data = yaml.safe_load((path or AUTOMATIONS_PATH).read_text(encoding="utf-8")) or {}
    return [AutomationCore.model_validate(a) for a in data.get("automations") or []]


def _canonical(value: Any) -> Any:
    """``value`` with every list sorted (Prefect keeps ``after``/``expect``/``for_each`` as sets: any order)."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return sorted((_canonical(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
    return value


def _comparable(automation) -> str:
    # deferred: Prefect's modules load only when automations are read or applied (the CLI imports this module)
    from prefect.events.schemas.automations import AutomationCore

    dumped = automation.model_dump(mode="json", include=set(AutomationCore.model_fields))
    return json.dumps(_canonical(dumped), sort_keys=True)


def apply_automations(api_url: str | None = None, path: Path | None = None) -> dict[str, str]:
    """Create or update every automation of ``path`` on the Prefect server at ``api_url`` (default
    ``PREFECT_API_URL``); returns ``{name: "created" | "updated" | "unchanged"}``. Duplicates of a name (e.g.
    from ``prefect automation create`` run twice) are all updated."""
    # deferred: Prefect's modules load only when automations are read or applied (the CLI imports this module)
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    outcome: dict[str, str] = {}
    overrides: dict[Any, Any] = {PREFECT_API_URL: api_url} if api_url else {}
    with temporary_settings(overrides), get_client(sync_client=True) as client:
        for automation in load_automations(path):
            found = client.read_automations_by_name(automation.name)
            if not found:
                client.create_automation(automation)
                outcome[automation.name] = "created"
                continue
            changed = [a for a in found if _comparable(a) != _comparable(automation)]
            for existing in changed:
                client.update_automation(existing.id, automation)
            outcome[automation.name] = "updated" if changed else "unchanged"
    return outcome


def heartbeat_env(prefect_yaml: Path | None = None) -> dict[str, str]:
    """The environment ``deploy/prefect.yaml`` gives the work pool's flow runs (``definitions.work_pool
    .job_variables.env``): the heartbeat interval, which ``closeloop serve`` sets for its own runs too."""
    data = yaml.safe_load((prefect_yaml or prefect_yaml_path()).read_text(encoding="utf-8")) or {}
    pool = (data.get("definitions") or {}).get("work_pool") or {}
    env = (pool.get("job_variables") or {}).get("env") or {}
    return {str(k): str(v) for k, v in env.items()}
