"""Fixtures of the dashboard page tests: the app on the parametrised ``engine`` (SQLite and
PostgreSQL) behind a TestClient, tokens per role, and a browser-like sign-in that keeps cookies."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from closeloop.api.app import create_app
from closeloop.bootstrap import App
from closeloop.services.people.tokens import create_token
from closeloop.settings import Settings
from models.db import make_sessions
from tests.api.conftest import T0  # noqa: F401 - re-exported for the tests
from tests.integration.helpers import facts, intake

CSRF = re.compile(r'name="csrf" value="([^"]+)"')

TOKENS = {"member": ("member", "operations", "en"), "member_product": ("member", "product", "en"),
          "lead": ("lead", "operations", "zh"), "manager": ("manager", None, "en"),
          "manager_zh": ("manager", None, "zh"), "admin": ("admin", None, "en")}


@dataclass
class Web:
    app: App
    tokens: dict[str, str]
    _api: object

    def client(self) -> TestClient:
        """A fresh browser: its own cookie jar."""
        return TestClient(self._api, follow_redirects=False)

    def signin(self, who: str) -> TestClient:
        c = self.client()
        page = c.get("/signin")
        r = c.post("/signin", data={"csrf": csrf_of(page.text), "token": self.tokens[who], "next": ""})
        assert r.status_code == 303, r.text
        return c


def csrf_of(html: str) -> str:
    m = CSRF.search(html)
    assert m, "page has no CSRF field"
    return m.group(1)


@pytest.fixture
def web(engine, config, clock):
    app = App(Settings(database_url=engine.url.render_as_string(hide_password=False)), engine,
              make_sessions(engine), clock, config)
    tokens = {}
    for key, (role, dept, lang) in TOKENS.items():
        tokens[key], _ = create_token(app.sessions, config, role=role, department=dept, name=key, language=lang,
                                      created_by="test", at=T0)
    yield Web(app, tokens, create_app(app))


@pytest.fixture
def complaints(web, config, clock):
    """A credit-reporting complaint (operations -> service), a mortgage one (operations, product, service)
    and a lending one that operations never touches (product -> service)."""
    at = T0 - timedelta(hours=1)
    return intake(web.app.sessions, config, clock.now(), [
        facts("W-1", at, product="Credit reporting", category="Credit reporting", customer_ref="c1"),
        facts("W-2", at, product="Mortgage", category="Mortgage", customer_ref="c2"),
        facts("W-3", at, product="Payday loan", category="Payday loan", customer_ref="c3"),
    ])
