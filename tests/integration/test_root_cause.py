"""Root causes (issue 5 item 1): resolving needs one; without it a root-cause task waits in the queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from closeloop.config import parse_config
from closeloop.domain.errors import InvalidInput
from closeloop.services.capa import root_cause as rc
from closeloop.services.work import lifecycle
from closeloop.services.work import tasks as svc
from models.tables import Complaint, Task, Transition

from .helpers import facts, intake

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _one(sessions, config, ref="R1", **kw):
    (cid,) = intake(sessions, config, T0, [facts(ref, T0, **kw)])
    with sessions() as s:
        tasks = list(s.scalars(select(Task).where(Task.complaint_id == cid).order_by(Task.id)))
    return cid, tasks


def _finish(sessions, config, tasks, **kw):
    for i, t in enumerate(tasks):
        svc.complete(sessions, t.id, config=config, actor="ops", at=T0 + timedelta(hours=1 + i),
                     **(kw if i == len(tasks) - 1 else {}))


def test_done_without_root_cause_waits_on_a_root_cause_task_for_the_lead(sessions, config):
    cid, tasks = _one(sessions, config)
    _finish(sessions, config, tasks)
    with sessions() as s:
        c = s.get(Complaint, cid)
        assert c.status == "in_progress" and c.root_cause is None
        waiting = s.scalars(select(Task).where(Task.complaint_id == cid, Task.kind == "root-cause")).one()
        assert waiting.status == "open" and waiting.department == tasks[0].department
        assert waiting.assignee == config.departments[tasks[0].department].lead
    with pytest.raises(InvalidInput, match="root_cause"):
        svc.complete(sessions, waiting.id, config=config, actor="lead", at=T0 + timedelta(hours=5))
    svc.complete(sessions, waiting.id, config=config, actor="lead", at=T0 + timedelta(hours=5),
                 root_cause="process_gap.handover")
    with sessions() as s:
        c = s.get(Complaint, cid)
        assert (c.status, c.root_cause) == ("resolved", "process_gap.handover")
        audit = s.scalars(select(Transition).where(Transition.complaint_id == cid,
                                                   Transition.trigger == "root_cause")).one()
        assert audit.actor == "lead" and audit.data["root_cause"] == "process_gap.handover"


def test_completing_the_last_task_with_a_root_cause_resolves(sessions, config):
    cid, tasks = _one(sessions, config)
    _finish(sessions, config, tasks, root_cause="undetermined", root_cause_detail="checked logs, nothing found")
    with sessions() as s:
        c = s.get(Complaint, cid)
        assert c.status == "resolved" and c.root_cause_detail == "checked logs, nothing found"
        assert not s.scalars(select(Task).where(Task.complaint_id == cid, Task.kind == "root-cause")).all()


def test_manual_resolve_requires_a_root_cause_and_undetermined_a_note(sessions, config):
    cid, _ = _one(sessions, config)
    with pytest.raises(InvalidInput, match="root_cause"):
        lifecycle.resolve(sessions, cid, config=config, reason="answered", actor="svc", at=T0)
    with pytest.raises(InvalidInput, match="note"):
        lifecycle.resolve(sessions, cid, config=config, reason="answered", actor="svc", at=T0,
                          root_cause="undetermined")
    with pytest.raises(InvalidInput, match="unknown root cause"):
        lifecycle.resolve(sessions, cid, config=config, reason="answered", actor="svc", at=T0, root_cause="gremlins")
    c = lifecycle.resolve(sessions, cid, config=config, reason="answered", actor="svc", at=T0,
                          root_cause="information")
    assert (c.status, c.root_cause) == ("resolved", "information")


def test_set_root_cause_completes_the_waiting_task(sessions, config):
    cid, tasks = _one(sessions, config)
    _finish(sessions, config, tasks)
    c = lifecycle.set_root_cause(sessions, cid, config=config, root_cause="system", note=None, actor="lead",
                                 at=T0 + timedelta(hours=6))
    assert c.status == "resolved"


def test_configured_taxonomy_and_sub_codes():
    text = (open("closeloop/config/default.toml", encoding="utf-8").read()
            + '\n[improvement]\nroot_causes = { weather = "weather", undetermined = "unknown" }\n'
              'sub_codes = { weather = ["snow", "fog"] }\n')
    cfg = parse_config(text)
    assert rc.validate(cfg, "weather.snow", None) == "weather.snow"
    with pytest.raises(InvalidInput, match="sub-code"):
        rc.validate(cfg, "weather.rain", None)
    with pytest.raises(InvalidInput, match="unknown root cause"):
        rc.validate(cfg, "process_gap", None)


def test_data_map_reads_causes_and_falls_back_to_undetermined_with_a_note():
    assert rc.from_data("airline-tweets", {"category": "Late Flight"})[0] == "process_gap"
    assert rc.from_data("nyc311", {"category": "HEATING"})[0] == "product_defect.heating"
    code, note = rc.from_data("nyc311", {"category": "Zebra loose"})
    assert code == "undetermined" and "Zebra loose" in note
