"""Issue 18 (CASES.md K9): every migration step round-trips on a populated database, on SQLite and
PostgreSQL, comparing row counts and a checksum of every table; a step that would delete rows is refused
with the counts unless ``allow_data_loss``; ``closeloop db downgrade -1`` works."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import inspect, select, text, update
from typer.testing import CliRunner

from closeloop.services.bulk import enqueue
from closeloop.services.capa import improvement
from closeloop.services.engine.sweep import sweep
from closeloop.services.people.tokens import create_token
from closeloop.services.work import compensation
from models import migrate
from models.tables import Base, Complaint, Outbox
from tests.conftest import ROOT

from .helpers import run_import

# columns a lossless step rebuilds rather than keeps: a claim fence (0006) and a derived due instant (0002)
REBUILT = {("outbox", "claims"), ("outbox", "dead_at"), ("task", "ack_due_at")}


def snapshot(engine) -> dict[str, tuple[int, str]]:
    """Per existing table: row count and SHA-256 of every row (kept columns, ordered by primary key)."""
    out = {}
    insp = inspect(engine)
    with engine.connect() as c:
        for table in Base.metadata.sorted_tables:
            if not insp.has_table(table.name):
                continue
            cols = [col["name"] for col in insp.get_columns(table.name) if (table.name, col["name"]) not in REBUILT]
            pk = inspect(engine).get_pk_constraint(table.name)["constrained_columns"] or cols[:1]
            rows = c.execute(text(f"SELECT {', '.join(cols)} FROM {table.name} ORDER BY {', '.join(pk)}")).all()
            digest = hashlib.sha256(repr([tuple(map(_norm, r)) for r in rows]).encode()).hexdigest()
            out[table.name] = (len(rows), digest)
    return out


def _norm(v):
    if isinstance(v, str) and v[:1] in "{[":  # JSON stored as text on SQLite, parsed on PostgreSQL
        import json
        try:
            return json.dumps(json.loads(v), sort_keys=True)
        except ValueError:
            return v
    if isinstance(v, dict | list):
        import json
        return json.dumps(v, sort_keys=True)
    if hasattr(v, "isoformat"):
        return v.isoformat()[:26]
    return str(v) if v is not None else None


def populate(sessions, config, clock) -> None:
    run_import(sessions, config, clock, ROOT / "examples" / "cfpb_sample.csv")
    at = clock.now()
    with sessions() as s:
        ids = list(s.scalars(select(Complaint.id).order_by(Complaint.id).limit(6)))
    rec = improvement.create(sessions, config=config, title="Credit report <b>errors</b>",
                             owner_department="operations", actor="test", at=at, complaint_ids=ids[:4])
    improvement.fire(sessions, rec.id, "approve", config=config, actor="test", at=at, root_cause="process_gap")
    improvement.add_action(sessions, rec.id, config=config, kind="corrective", department="operations",
                           title="fix the feed", actor="test", at=at, business_days=5)
    compensation.add(sessions, ids[0], config=config, kind="refund", amount="25.00", actor="test", at=at,
                     requester="token:1")
    with sessions.begin() as s:
        s.execute(update(Complaint).where(Complaint.id.in_(ids[:3])).values(root_cause="process_gap",
                                                                            customer_satisfied=True))
    create_token(sessions, config, role="manager", name="Li Na", created_by="test", at=at)
    sweep(sessions, config, at + timedelta(days=10))
    with sessions.begin() as s:
        first, second = (enqueue(s, key=f"k:{i}", channel="webhook", target="https://x", recipient="lead",
                                 subject="s", body="b", payload={"n": i}, now=at) for i in range(2))
        s.execute(update(Outbox).where(Outbox.id == first).values(
            status="dead", dead_reason="abandoned", requeues=2, last_error="abandoned: 10 claims", dead_at=at))
        s.execute(update(Outbox).where(Outbox.id == second).values(
            status="dead", dead_reason="exhausted", last_error=None, dead_at=at))


def test_each_step_round_trips_or_refuses_with_counts(engine, sessions, config, clock):
    try:
        _round_trips(engine, sessions, config, clock)
    finally:
        migrate.upgrade(engine)  # the PostgreSQL schema is shared with the next tests


def _round_trips(engine, sessions, config, clock) -> None:
    populate(sessions, config, clock)
    head = snapshot(engine)
    assert all(head[t][0] > 0 for t in ("complaint", "improvement", "improvement_link", "compensation",
                                        "api_token", "timer", "notification", "outbox"))

    lossy = _step_down_to(engine, "0005")  # 0006 keeps everything: dead letters fold into 0005's "failed"
    assert migrate.current_revision(engine) == "0005"
    with engine.connect() as c:
        assert c.execute(text("SELECT COUNT(*) FROM outbox WHERE status = 'failed'")).scalar() == 2
    migrate.upgrade(engine)
    after = snapshot(engine)
    assert {t for t in head if after[t] != head[t]} <= lossy
    head = after

    with pytest.raises(migrate.DataLossRefused) as refused:
        migrate.downgrade(engine, "0004")
    lost = {what: n for rev, what, n in refused.value.losses}
    assert lost["improvement records"] == head["improvement"][0] >= 1
    assert lost["improvement links"] == head["improvement_link"][0] >= 4
    assert lost["compensation entries"] == head["compensation"][0] == 1
    assert (lost["improvement action tasks"], lost["customer verdicts"]) == (1, 3)
    assert lost["complaint root causes"] >= 3
    assert "--allow-data-loss" in str(refused.value)
    assert f"{head['improvement'][0]} improvement records (undoing 0005)" in str(refused.value)
    assert migrate.is_up_to_date(engine) and snapshot(engine) == head  # nothing changed

    migrate.downgrade(engine, "0004", allow_data_loss=True)
    migrate.upgrade(engine)
    after = snapshot(engine)
    for table in ("customer", "department", "routing_config", "api_token", "outbox", "task_dependency"):
        assert after[table] == head[table], table
    assert after["improvement"][0] == after["compensation"][0] == 0

    with pytest.raises(migrate.DataLossRefused) as refused:
        migrate.downgrade(engine, "0002")
    lost = {what: n for rev, what, n in refused.value.losses}
    assert lost == {"API tokens": 1, "timers": after["timer"][0], "notifications": after["notification"][0],
                    "outbox messages": after["outbox"][0]}
    migrate.downgrade(engine, "0002", allow_data_loss=True)
    at_0002 = snapshot(engine)
    migrate.downgrade(engine, "-1")  # 0002 only drops the derived acknowledge due instant
    migrate.upgrade(engine, "0002")
    assert snapshot(engine) == at_0002

    with pytest.raises(migrate.DataLossRefused, match=f"{at_0002['complaint'][0]} complaint rows"):
        migrate.downgrade(engine, "base")
    with pytest.raises(ValueError, match="not below"):
        migrate.downgrade(engine, "0005")
    migrate.downgrade(engine, "base", allow_data_loss=True)
    assert migrate.current_revision(engine) is None


# the tables whose rows a step's counted losses (models/migrate.py LOSSES) touch
LOSS_TABLES = {"0007": {"notification"}, "0009": {"customer", "customer_contact", "message", "promise"},
               "0010": {"engine_run"}, "0011": {"inbound_mail", "mail_quarantine", "attachment"},
               "0013": {"app_user", "mention", "api_token", "task"}, "0016": {"compensation"},
               "0017": {"outbox"}, "0018": {"engine_run"}, "0019": {"inbound_mail"}}


def _step_down_to(engine, target: str) -> set[str]:
    """Step down one revision at a time; a step with counted losses must refuse first (with exactly
    those counts), then goes with ``allow_data_loss``. Returns the tables such steps may change."""
    changed: set[str] = set()
    while migrate.current_revision(engine) != target:
        steps = migrate.downgrade_steps(engine, "-1")
        losses = migrate.data_loss(engine, steps)
        if losses:
            with pytest.raises(migrate.DataLossRefused) as refused:
                migrate.downgrade(engine, "-1")
            assert list(refused.value.losses) == losses
            changed |= LOSS_TABLES[steps[0]]
        migrate.downgrade(engine, "-1", allow_data_loss=bool(losses))
    return changed


def test_cli_downgrade_minus_one_and_refusal_with_counts(tmp_path, monkeypatch):
    from closeloop.cli import app

    monkeypatch.setenv("CLOSELOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'm.db'}")
    monkeypatch.delenv("CLOSELOOP_CONFIG", raising=False)
    runner = CliRunner()

    def run(*args):
        return runner.invoke(app, list(args), catch_exceptions=False)
    assert run("db", "upgrade").exit_code == 0
    assert run("tokens", "create", "--role", "manager", "--name", "ops").exit_code == 0
    res = run("db", "downgrade", "0011")  # by id: the steps after it keep every row here (no users yet)
    assert res.exit_code == 0 and "database at revision 0011" in res.output
    res = run("db", "downgrade", "-1")
    assert res.exit_code == 0 and "database at revision 0010" in res.output
    res = run("db", "downgrade", "-1")
    assert res.exit_code == 0 and "database at revision 0009" in res.output
    res = run("db", "downgrade", "-4")
    assert res.exit_code == 0 and "database at revision 0005" in res.output
    res = run("db", "downgrade", "-2")
    assert res.exit_code == 2 and "1 API tokens (undoing 0004)" in res.output and "--allow-data-loss" in res.output
    assert run("db", "current").output.strip() == "0005"
    res = run("db", "downgrade", "-2", "--allow-data-loss")
    assert res.exit_code == 0 and "database at revision 0003" in res.output
    assert run("db", "downgrade", "-9").exit_code == 2
