"""The container packaging, validated where containers cannot run: deploy/compose.yaml parses, names every
service of the process test (tests/integration/test_production.py) and wires them as deploy/README.md says;
deploy/Containerfile copies what the image needs and installs closeloop; pyproject.toml's license is the SPDX
string that setuptools reads without a deprecation warning."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "deploy" / "compose.yaml"
CONTAINERFILE = ROOT / "deploy" / "Containerfile"


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _command(service: dict) -> str:
    cmd = service.get("command", "")
    return " ".join(cmd) if isinstance(cmd, list) else cmd


def test_compose_names_every_service_of_the_process_setup():
    services = _compose()["services"]
    assert set(services) == {"postgres", "pgbouncer", "prefect-server", "migrate", "deploy", "worker", "api"}
    assert "prefect server start" in _command(services["prefect-server"])
    assert "prefect --no-prompt deploy --all --prefect-file deploy/prefect.yaml" in _command(services["deploy"])
    assert "closeloop automations" in _command(services["deploy"])  # zombie detection on the Prefect server
    assert "prefect work-pool create closeloop --type process" in _command(services["deploy"])
    assert re.search(r"prefect worker start --pool closeloop --limit \d+", _command(services["worker"]))
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert "closeloop db upgrade" in _command(services["migrate"])
    assert "closeloop api" in _command(services["api"])
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])


def test_closeloop_goes_through_pgbouncer_and_prefect_to_postgresql_directly():
    services = _compose()["services"]
    for name in ("migrate", "deploy", "worker", "api"):
        env = services[name]["environment"]
        assert "@pgbouncer:6432/closeloop" in env["CLOSELOOP_DATABASE_URL"], name
        assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api", name
        assert services[name]["image"] == "closeloop:latest", name
    server_db = services["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert server_db.startswith("postgresql+asyncpg://") and "@postgres:5432/prefect" in server_db
    assert services["pgbouncer"]["environment"]["POOL_MODE"] == "transaction"
    init = (ROOT / "deploy" / services["postgres"]["volumes"][1].split(":")[0]).read_text(encoding="utf-8")
    assert "CREATE DATABASE closeloop" in init and "CREATE DATABASE prefect" in init
    # every depends_on names a service that exists
    for name, svc in services.items():
        assert set(svc.get("depends_on", {})) <= set(services), name


def test_the_image_holds_the_code_at_the_path_the_deployments_record():
    text = CONTAINERFILE.read_text(encoding="utf-8")
    assert re.search(r"^WORKDIR /app$", text, re.M)
    for part in ("closeloop", "models", "integrations", "flows", "deploy"):
        assert re.search(rf"^COPY {part} \./{part}$", text, re.M), part
    assert re.search(r"^RUN pip install \.", text, re.M)
    assert (ROOT / "deploy" / "prefect.yaml").is_file()
    compose = _compose()["services"]["prefect-server"]["build"]
    assert (COMPOSE.parent / compose["context"] / compose["dockerfile"]).resolve() == CONTAINERFILE.resolve()


def test_the_license_is_an_spdx_expression_that_the_required_setuptools_reads():
    """A ``{ text = ... }`` table makes setuptools warn on every install (deprecated by PEP 639); the string
    form needs setuptools 77 or later in the build requirements."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in meta["build-system"]["requires"]
