"""Fixtures of the REST API tests: an app on the parametrised ``engine`` (SQLite and PostgreSQL),
a TestClient, one token per role, and a few complaints routed to departments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from closeloop.api.app import create_app
from closeloop.bootstrap import App
from closeloop.services.people.tokens import create_token
from closeloop.settings import Settings
from models.db import make_sessions
from tests.integration.helpers import facts, intake

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 Shanghai


@dataclass
class Api:
    app: App
    client: TestClient
    tokens: dict[str, str]  # "member" (operations), "member_service", "lead", "manager", "admin"

    def h(self, who: str) -> dict:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, who: str, url: str, **kw):
        return self.client.get("/api/v1" + url, headers=self.h(who), **kw)

    def post(self, who: str, url: str, json=None, **kw):
        headers = {**self.h(who), **kw.pop("headers", {})}
        return self.client.post("/api/v1" + url, headers=headers, json=json, **kw)


def make_tokens(app: App) -> dict[str, str]:
    spec = {"member": ("member", "operations"), "member_service": ("member", "service"),
            "lead": ("lead", "operations"), "lead_service": ("lead", "service"),
            "manager": ("manager", None), "admin": ("admin", None)}
    out = {}
    for key, (role, dept) in spec.items():
        out[key], _ = create_token(app.sessions, app.config, role=role, department=dept, name=key,
                                   created_by="test", at=T0)
    return out


@pytest.fixture
def api(engine, config, clock):
    app = App(Settings(database_url=engine.url.render_as_string(hide_password=False)), engine,
              make_sessions(engine), clock, config)
    with TestClient(create_app(app)) as client:
        yield Api(app, client, make_tokens(app))


@pytest.fixture
def complaints(api, config, clock):
    """Three complaints received at T0-1h: a credit-reporting one (operations investigate -> service respond),
    and two more; returns their ids."""
    at = T0 - timedelta(hours=1)
    return intake(api.app.sessions, config, clock.now(), [
        facts("A-1", at, product="Credit reporting", category="Credit reporting", customer_ref="c1"),
        facts("A-2", at, product="Credit reporting", category="Credit reporting", customer_ref="c2"),
        facts("A-3", at, product="Mortgage", category="Mortgage", customer_ref="c3"),
    ])
