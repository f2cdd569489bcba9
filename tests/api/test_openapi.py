"""The OpenAPI document: served, and the committed docs/openapi.json is the generated one."""

from __future__ import annotations

import json
from pathlib import Path

from closeloop.cli.api import openapi_document

ROOT = Path(__file__).resolve().parents[2]


def test_committed_openapi_document_is_current():
    committed = (ROOT / "docs" / "openapi.json").read_text(encoding="utf-8")
    assert committed == openapi_document(), \
        "docs/openapi.json is stale: run `closeloop openapi --out docs/openapi.json`"


def test_served_document_is_the_same_and_every_operation_declares_the_error_shape(api):
    r = api.client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    served = r.json()
    assert served == json.loads(openapi_document())
    assert served["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    every = [(p, m, op) for p, item in served["paths"].items() for m, op in item.items()]
    root = {p for p, _, _ in every if not p.startswith("/api/v1/")}
    assert root == {"/healthz", "/readyz", "/metrics"}  # operations endpoints: no token, so no 401
    assert all("401" not in op["responses"] for p, _, op in every if p in root)
    ops = [(p, m, op) for p, m, op in every if p not in root]
    assert len(ops) >= 18
    for path, method, op in ops:
        assert op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse"), \
            (method, path)


def _date_time(schema: dict) -> bool:
    return schema.get("format") == "date-time" or any(_date_time(s) for s in schema.get("anyOf", ()))


def test_every_date_time_query_parameter_describes_its_format_with_an_example():
    doc = json.loads(openapi_document())
    found = {(path, p["name"]): p for path, item in doc["paths"].items() for op in item.values()
             for p in op.get("parameters", ()) if p["in"] == "query" and _date_time(p["schema"])}
    bounds = {f"{what}_{side}" for what in ("created", "received") for side in ("from", "to")}
    assert {name for _, name in found} == bounds
    assert {path for path, _ in found} == {"/api/v1/complaints", "/api/v1/exports/complaints"}
    for (path, name), p in found.items():
        text = p.get("description", "")
        assert "ISO 8601 date-time with a UTC offset" in text and "2026-12-01T08:00:00+08:00" in text, (path, name)
        assert ("at or after" if name.endswith("_from") else "before") in text, (path, name)
        assert p["schema"]["examples"] == ["2026-12-01T00:00:00Z"], (path, name)
