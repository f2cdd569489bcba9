"""closeloop's deployments, read from ``deploy/prefect.yaml``: the one list of them.

``prefect deploy --all --prefect-file deploy/prefect.yaml`` registers them for a work pool
and workers; ``closeloop serve`` reads the same file here and serves the same deployments
(name, flow, schedules, tags, parameters, description, concurrency limit) in one process.
Nothing is declared twice: a test compares this reading with Prefect's own.

``{{ $ENV_VAR }}`` placeholders are resolved from the environment, as ``prefect deploy`` does.
The file is looked up at ``CLOSELOOP_PREFECT_YAML``, else ``deploy/prefect.yaml`` beside the
``flows`` package (the checkout, or ``/app`` in the container image).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import yaml

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "deploy" / "prefect.yaml"


class DeploymentFileError(ValueError):
    """``prefect.yaml`` is missing or a deployment in it is malformed (the message names which and why)."""


@dataclass(frozen=True)
class DeploymentSpec:
    """One entry of ``deployments:`` in prefect.yaml, as closeloop uses it."""

    name: str
    entrypoint: str                      # "flows/sweep.py:sweep_flow", relative to the repository root
    description: str = ""
    tags: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: tuple[dict, ...] = ()     # as written: {"interval": s} or {"cron": ..., "timezone": ...}
    concurrency_limit: int | None = None

    @property
    def module(self) -> str:
        """``flows/sweep.py:sweep_flow`` -> ``flows.sweep``."""
        return self.entrypoint.split(":", 1)[0].removesuffix(".py").replace("/", ".")

    def load_flow(self):
        """The ``prefect.Flow`` object the entrypoint names (imported as a module of the package)."""
        attr = self.entrypoint.split(":", 1)[1]
        return getattr(importlib.import_module(self.module), attr)


def prefect_yaml_path() -> Path:
    return Path(os.environ.get("CLOSELOOP_PREFECT_YAML") or DEFAULT_PATH)


def load_specs(path: Path | None = None) -> list[DeploymentSpec]:
    """Every deployment of ``path`` (default :func:`prefect_yaml_path`), env placeholders resolved.

    Raises:
        DeploymentFileError: the file is absent, or an entry lacks a name or ``path:function`` entrypoint.
    """
    # deferred: reading and checking deploy/prefect.yaml needs no Prefect import
    from prefect.utilities.templating import apply_values

    path = path or prefect_yaml_path()
    if not path.is_file():
        raise DeploymentFileError(f"{path}: no such file (set CLOSELOOP_PREFECT_YAML to closeloop's prefect.yaml)")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    specs = []
    deployments: list[Any] = data.get("deployments") or []
    # a list template gives a list (NotSet only replaces a template that is itself an unset placeholder)
    applied = cast(list[Any], apply_values(deployments, dict(os.environ), remove_notset=False))
    for i, raw in enumerate(applied):
        name, entrypoint = raw.get("name"), raw.get("entrypoint") or ""
        if not name or ":" not in entrypoint:
            raise DeploymentFileError(f"{path}: deployments[{i}] needs a name and an entrypoint 'file.py:function'")
        limit = raw.get("concurrency_limit")
        specs.append(DeploymentSpec(
            name=name, entrypoint=entrypoint, description=" ".join(str(raw.get("description") or "").split()),
            tags=tuple(raw.get("tags") or ()), parameters=dict(raw.get("parameters") or {}),
            schedules=tuple(raw.get("schedules") or ()),
            concurrency_limit=limit.get("limit") if isinstance(limit, dict) else limit))
    return specs


def schedule_objects(spec: DeploymentSpec) -> list:
    """Prefect schedule objects (``Interval`` / ``Cron``) for ``spec``'s schedules.

    Raises:
        DeploymentFileError: a schedule is neither ``interval`` (seconds) nor ``cron``.
    """
    # deferred: reading and checking deploy/prefect.yaml needs no Prefect import
    from prefect.schedules import Cron, Interval

    out = []
    for s in spec.schedules:
        active = s.get("active", True)
        if "interval" in s:
            out.append(Interval(timedelta(seconds=float(s["interval"])), timezone=s.get("timezone"), active=active))
        elif "cron" in s:
            out.append(Cron(s["cron"], timezone=s.get("timezone"), active=active))
        else:
            raise DeploymentFileError(f"deployment {spec.name}: a schedule needs 'interval' (seconds) or 'cron'")
    return out


def runner_deployments(specs: list[DeploymentSpec] | None = None) -> list:
    """``RunnerDeployment`` objects for ``prefect.serve`` built from the same specs."""
    return [spec.load_flow().to_deployment(
        spec.name, schedules=schedule_objects(spec), tags=list(spec.tags), parameters=spec.parameters,
        description=spec.description or None, concurrency_limit=spec.concurrency_limit)
        for spec in (specs if specs is not None else load_specs())]

