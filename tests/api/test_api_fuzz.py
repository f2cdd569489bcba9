"""Fuzzing: schemathesis generates requests from the served OpenAPI document; none may get a 5xx.

In-process (ASGI) against SQLite with a few complaints, fixed seed (Hypothesis derandomised),
at least 1,000 generated requests across every operation. Callers rotate between the roles so
the 401/403/scope paths are fuzzed too.
"""

from __future__ import annotations

import shutil
from datetime import timedelta

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlalchemy.orm import sessionmaker

from closeloop.api.app import create_app
from closeloop.bootstrap import App
from closeloop.settings import Settings
from models.db import make_engine
from models.tables import ApiToken
from tests.integration.helpers import facts, intake

from .conftest import T0, make_tokens

EXAMPLES_PER_OPERATION = 100
MIN_REQUESTS = 1_000
ROLES = ("manager", "manager", "member", "lead", "member_service", "admin", None)


def test_fuzzed_requests_get_no_server_error(sqlite_template, tmp_path, config, clock):
    path = tmp_path / "fuzz.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    app = App(Settings(database_url=f"sqlite:///{path}"), engine, sessionmaker(engine, expire_on_commit=False),
              clock, config)
    at = T0 - timedelta(hours=3)
    intake(app.sessions, config, T0, [facts(f"F-{i}", at, product=p, category=p, customer_ref=f"c{i}")
                                      for i, p in enumerate(["Credit reporting", "Mortgage", "Payday loan",
                                                             "Debt collection", "Something else"])])
    tokens = make_tokens(app)
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(app))
    sent: list[int] = []
    failures: list[str] = []
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 18

    for op in operations:
        @settings(max_examples=EXAMPLES_PER_OPERATION, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), print_blob=False)
        @given(case=op.as_strategy(), role=st.sampled_from(ROLES))
        def run(case, role):
            with app.sessions.begin() as s:  # the fuzzer may revoke our own tokens: bring them back
                s.execute(update(ApiToken).values(revoked_at=None))
            headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
            response = case.call(headers=headers)
            sent.append(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.query} {case.body!r}: "
                                f"{response.status_code} {response.text[:300]}")

        run()
    engine.dispose()
    print("fuzz requests:", len(sent), sorted(__import__("collections").Counter(sent).items()))
    assert not failures, "\n".join(failures[:10])
    assert len(sent) >= MIN_REQUESTS, len(sent)
    assert {200, 401, 403, 422} <= set(sent)
