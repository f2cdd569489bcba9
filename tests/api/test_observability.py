"""/healthz, /readyz and /metrics on SQLite and PostgreSQL, and the JSON access log (ids, never personal data)."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, func, select

from closeloop.api.app import create_app
from closeloop.bootstrap import App
from closeloop.logs import JsonFormatter
from closeloop.services.engine.engine_runs import RunKind, record_run
from closeloop.services.engine.sweep import sweep
from closeloop.settings import Settings
from models import migrate
from models.db import make_sessions
from models.tables import Outbox, Task, Timer

from .conftest import T0


def _samples(text: str) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_healthz_is_liveness_without_a_token(api):
    r = api.client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


def test_readyz_names_each_check_and_fails_with_503_and_the_reason(api, engine):
    r = api.client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok", "configuration": "ok"}}

    head = migrate.head_revision(engine)
    with engine.begin() as c:  # the schema one revision behind the code (as after deploying new code)
        c.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    try:
        r = api.client.get("/readyz")
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "not ready"
        assert "0001" in body["checks"]["migrations"] and head in body["checks"]["migrations"]
        assert body["checks"]["database"] == "ok"
    finally:
        with engine.begin() as c:
            c.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{head}'")

    api.app._config, api.app.settings.config = None, "/nonexistent/closeloop.toml"
    r = api.client.get("/readyz")
    assert r.status_code == 503 and r.json()["checks"]["configuration"].startswith("not loaded")


def test_metrics_answer_200_with_database_up_0_while_the_database_is_down(config, clock):
    """A scrape while the database is unreachable: no 500 (Prometheus would only see the target down), but
    ``closeloop_database_up 0``, the process's API latency, and no engine gauge; /readyz says 503."""
    url = "postgresql+psycopg://postgres@127.0.0.1:5999/nope"  # nothing listens there
    down = create_engine(url, connect_args={"connect_timeout": 2})
    app = App(Settings(database_url=url), down, make_sessions(down), clock, config)
    with TestClient(create_app(app)) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 503
        r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    m = _samples(r.text)
    assert m[("closeloop_database_up", ())] == 0
    assert not any(name.startswith(("closeloop_outbox", "closeloop_due_timer", "closeloop_engine")) for name, _ in m)
    assert any(name.startswith("closeloop_api_request_duration_seconds") for name, _ in m)


def test_metrics_report_the_backlog_the_timer_lag_and_the_runs(api, complaints, clock):
    sessions = api.app.sessions
    sweep(sessions, api.app.config, T0)  # schedules the complaints' timers
    later = T0 + timedelta(days=3)
    clock.set(later)
    with sessions() as s:
        oldest_due = s.scalar(select(func.min(Timer.fire_at)).where(Timer.status == "pending", Timer.fire_at <= later))
        due = s.scalar(select(func.count()).select_from(Timer).where(Timer.status == "pending", Timer.fire_at <= later))
        outbox = dict(s.execute(select(Outbox.status, func.count()).group_by(Outbox.status)).all())
    assert oldest_due is not None and due > 0
    record_run(sessions, RunKind.DELIVER, worker="w1", started_at=later - timedelta(minutes=2),
               finished_at=later - timedelta(minutes=1), duration_s=4.0, counts={"delivered": 7, "failed": 1})
    record_run(sessions, RunKind.DELIVER, worker="w2", started_at=later - timedelta(seconds=30),
               finished_at=later - timedelta(seconds=20), duration_s=2.5, counts={"delivered": 3})
    record_run(sessions, RunKind.DELIVER, worker="old", started_at=later - timedelta(hours=3),
               finished_at=later - timedelta(hours=2), duration_s=99.0, counts={"delivered": 100})
    record_run(sessions, RunKind.PURGE, worker="p", started_at=later - timedelta(seconds=40),
               finished_at=later - timedelta(seconds=30), duration_s=10.0, counts={}, error="IntegrityError")

    api.get("manager", "/overview")  # one API call to time
    r = api.client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    m = _samples(r.text)
    assert m[("closeloop_database_up", ())] == 1
    assert m[("closeloop_due_timers", ())] == due
    assert m[("closeloop_due_timer_lag_seconds", ())] == (later - oldest_due).total_seconds()
    for status in ("pending", "sending", "delivered", "unknown", "dead"):  # every status, 0 when none has it
        assert m[("closeloop_outbox_messages", (("status", status),))] == outbox.get(status, 0)
    assert ("closeloop_outbox_messages", (("status", "failed"),)) not in m  # no outbox row has that status
    assert m[("closeloop_engine_runs_last_hour", (("kind", "deliver"),))] == 2  # the 2-hour-old run is out
    assert m[("closeloop_engine_run_seconds_sum_last_hour", (("kind", "deliver"),))] == 6.5
    assert m[("closeloop_engine_run_seconds_max_last_hour", (("kind", "deliver"),))] == 4.0
    assert m[("closeloop_engine_last_run_age_seconds", (("kind", "deliver"),))] == 20.0
    assert m[("closeloop_engine_last_run_age_seconds", (("kind", "sweep"),))] == -1.0
    # a failed run is no finished run, but /metrics shows it (a failing purge was indistinguishable from none)
    assert m[("closeloop_engine_last_run_age_seconds", (("kind", "purge"),))] == -1.0
    assert m[("closeloop_engine_runs_failed_last_hour", (("kind", "purge"),))] == 1
    assert m[("closeloop_engine_last_failure_age_seconds", (("kind", "purge"),))] == 30.0
    assert m[("closeloop_engine_runs_failed_last_hour", (("kind", "deliver"),))] == 0
    assert m[("closeloop_engine_last_failure_age_seconds", (("kind", "deliver"),))] == -1.0
    assert m[("closeloop_deliveries_last_hour", (("outcome", "delivered"),))] == 10
    assert m[("closeloop_deliveries_last_hour", (("outcome", "failed"),))] == 1
    timed = [k for k in m if k[0] == "closeloop_api_request_duration_seconds_count"
             and ("route", "/api/v1/overview") in k[1]]
    assert timed and m[timed[0]] == 1


def test_access_log_is_json_with_the_route_template_and_ids_only(api, complaints, caplog):
    with api.app.sessions() as s:
        task_id = s.scalar(select(Task.id).where(Task.complaint_id == complaints[0]).order_by(Task.id).limit(1))
    with caplog.at_level(logging.INFO, logger="closeloop.api.access"):
        r = api.get("manager", f"/tasks/{task_id}")
    assert r.status_code == 200
    [rec] = [r for r in caplog.records if r.name == "closeloop.api.access"]
    line = json.loads(JsonFormatter().format(rec))
    assert line["route"] == "/api/v1/tasks/{task_id}" and line["task_id"] == task_id and line["status"] == 200
    assert line["method"] == "GET" and line["duration_ms"] >= 0 and line["level"] == "info"
    assert api.tokens["manager"] not in json.dumps(line) and "Authorization" not in json.dumps(line)


def test_the_json_formatter_drops_fields_outside_its_whitelist():
    rec = logging.LogRecord("closeloop.x", logging.WARNING, __file__, 1, "complaint %s escalated", (12,), None)
    rec.complaint_id, rec.email, rec.customer_name = 12, "li.na@example.com", "Li Na"
    line = json.loads(JsonFormatter().format(rec))
    assert line["msg"] == "complaint 12 escalated" and line["complaint_id"] == 12 and line["level"] == "warning"
    assert "email" not in line and "customer_name" not in line and "li.na" not in json.dumps(line)


def test_configured_logging_keeps_httpx_request_lines_out_and_closeloop_lines_in():
    import logging

    from closeloop.logs import QUIET_LOGGERS, configure_logging

    root = logging.getLogger()
    saved = (root.level, list(root.handlers), {n: logging.getLogger(n).level for n in QUIET_LOGGERS})
    try:
        configure_logging("json")
        assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)  # Prefect's polling, every few seconds
        assert logging.getLogger("httpx").isEnabledFor(logging.WARNING)
        assert logging.getLogger("closeloop.services.delivery").isEnabledFor(logging.INFO)
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)


def test_the_suggested_sweep_alert_fires_when_no_sweep_ever_finished():
    """deploy/README.md's alert on ``closeloop_engine_last_run_age_seconds{kind="sweep"}`` fires at -1 ("never",
    what /metrics shows until a sweep finishes) as well as past 900 s, and not for a recent sweep: ``> 900`` alone
    had never fired for a sweep that never ran. Each ``or`` clause is ``metric{labels} OP number``."""
    import operator
    import re

    from tests.conftest import ROOT

    text = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    metric = 'closeloop_engine_last_run_age_seconds{kind="sweep"}'
    (alert,) = re.findall(r"`(" + re.escape(metric) + r" [^`]+)`", text)
    ops = {">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le}
    clauses = [re.fullmatch(re.escape(metric) + r" (>=|<=|>|<) (-?\d+(?:\.\d+)?)", c.strip())
               for c in alert.split(" or ")]
    assert all(clauses), alert

    def fires(value: float) -> bool:
        return any(ops[c.group(1)](value, float(c.group(2))) for c in clauses)

    assert fires(-1.0) and fires(901.0)
    assert not fires(0.0) and not fires(300.0)
