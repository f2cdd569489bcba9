"""The monthly review of a simulated month: figures checked against counts from the database,
rendered as Markdown, HTML and JSON (issue 5, item 7)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from closeloop.domain.errors import InvalidInput
from closeloop.services.capa import improvement as imp
from closeloop.services.review.review import build_review, render
from closeloop.services.work import lifecycle
from closeloop.services.work import tasks as svc
from models.tables import Complaint, Improvement, ImprovementLink, Task, Transition

from .helpers import facts, intake

# March 2026 in America/New_York (the default customer calendar): 1 Mar 05:00 UTC to 1 Apr 04:00 UTC
T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # Monday 09:00 EST
NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
ACTOR = "test"


def _tasks(sessions, cid):
    with sessions() as s:
        return [(t.id, t.department, t.status) for t in
                s.scalars(select(Task).where(Task.complaint_id == cid, Task.status.in_(
                    ("open", "acknowledged", "in_progress", "blocked"))).order_by(Task.id))]


def _finish(sessions, config, cid, at, cause):
    """Record the root cause and complete every active task (dependents unblock on the way)."""
    lifecycle.set_root_cause(sessions, cid, config=config, root_cause=cause, note=None, actor=ACTOR, at=at)
    for _ in range(5):
        active = [t for t in _tasks(sessions, cid) if t[2] != "blocked"]
        if not active:
            break
        for tid, _, _ in active:
            svc.complete(sessions, tid, config=config, actor=ACTOR, at=at, outcome="done")


@pytest.fixture
def month(sessions, config):
    ids = intake(sessions, config, T0, [facts(f"R{i}", T0 + timedelta(minutes=i), category="billing",
                                              product="Checking account") for i in range(6)])
    feb = intake(sessions, config, datetime(2026, 2, 20, 15, tzinfo=UTC),
                 [facts("F1", datetime(2026, 2, 20, 15, tzinfo=UTC), category="billing")])
    fast, slow, bounced, open_, p1, p2 = ids
    # resolved within hours (met) with three different causes; one resolved late (breached)
    _finish(sessions, config, fast, T0 + timedelta(hours=2), "process_gap")
    _finish(sessions, config, p1, T0 + timedelta(hours=3), "process_gap.handover")
    _finish(sessions, config, p2, T0 + timedelta(hours=3), "system")
    _finish(sessions, config, slow, datetime(2026, 3, 27, 15, tzinfo=UTC), "policy_rule")
    # ping-pong: A -> B -> A, then left open past its due date
    (tid, dep, _), *_ = _tasks(sessions, bounced)
    other = next(d for d in ("operations", "service", "product") if d != dep)
    t2 = svc.transfer(sessions, tid, config=config, to=other, reason="not ours", actor=ACTOR,
                      at=T0 + timedelta(hours=1))
    svc.transfer(sessions, t2.id, config=config, to=dep, reason="back: it is yours", actor=ACTOR,
                 at=T0 + timedelta(hours=2))
    # an improvement record with an overdue corrective action
    rec = imp.create(sessions, config=config, title="Fee refunds stall", owner_department="operations", actor=ACTOR,
                     at=T0 + timedelta(days=1), root_cause="process_gap", complaint_ids=[fast, p1])
    imp.fire(sessions, rec.id, "approve", config=config, actor=ACTOR, at=T0 + timedelta(days=1))
    imp.add_action(sessions, rec.id, config=config, kind="corrective", department="operations",
                   title="Fix the refund queue", actor=ACTOR, at=T0 + timedelta(days=1), business_days=3)
    return {"ids": ids, "feb": feb, "bounced": bounced, "open": open_, "other": other, "dep": dep,
            "record": rec.id}


def test_a_past_months_compensation_does_not_change_when_decided_later(sessions, config, month):
    """Entries recorded in March and decided in April (approved, rejected) were pending at March's end: the
    March review says so before and after the decisions."""
    from closeloop.services.work import compensation as comp

    cid, cur = month["open"], config.model.compensation.currency
    with sessions() as s:
        c = s.get_one(Complaint, cid)
        cap = config.model.compensation.cap(c.category, c.severity)
    at = datetime(2026, 3, 20, 15, tzinfo=UTC)
    comp.add(sessions, cid, config=config, kind="voucher", amount="0.01", actor=ACTOR, at=at)  # by policy
    late = [comp.add(sessions, cid, config=config, kind="refund", amount=str(cap), actor=ACTOR, requester="token:1",
                     at=at) for _ in range(2)]
    april = datetime(2026, 4, 15, 15, tzinfo=UTC)
    before = build_review(sessions, config, "2026-03", april)["compensation"]
    assert (before["entries"], before["pending_approval"], before["approved_total"]) == (3, 2, {cur: "0.01"})
    comp.decide(sessions, late[0].id, approve=True, actor="boss", by="token:2", role="manager", at=april)
    comp.decide(sessions, late[1].id, approve=False, note="no", actor="boss", by="token:2", role="manager", at=april)
    assert build_review(sessions, config, "2026-03", april + timedelta(hours=1))["compensation"] == before
    # decided at the very end of the period: not yet decided at its end (the end is exclusive)
    end = datetime(2026, 4, 1, 4, tzinfo=UTC)
    extra = comp.add(sessions, cid, config=config, kind="refund", amount="1", actor=ACTOR, requester="token:1",
                     at=at)
    comp.decide(sessions, extra.id, approve=True, actor="boss", by="token:2", role="manager", at=end)
    assert build_review(sessions, config, "2026-03", april)["compensation"]["pending_approval"] == 3


def test_figures_match_the_database(sessions, config, month):
    r = build_review(sessions, config, "2026-03", NOW)
    start, end = datetime.fromisoformat(r["period"]["start"]), datetime.fromisoformat(r["period"]["end"])
    assert (start, end) == (datetime(2026, 3, 1, 5, tzinfo=UTC), datetime(2026, 4, 1, 4, tzinfo=UTC))
    with sessions() as s:
        received = s.scalar(select(func.count()).select_from(Complaint).where(
            Complaint.received_at >= start, Complaint.received_at < end))
        resolved_ids = set(s.scalars(select(Transition.complaint_id).where(
            Transition.entity == "complaint", Transition.to_state == "resolved",
            Transition.at >= start, Transition.at < end)))
        causes = dict(s.execute(select(Complaint.root_cause, func.count()).where(Complaint.id.in_(resolved_ids))
                                .group_by(Complaint.root_cause)).all())
        linked = s.scalar(select(func.count()).select_from(ImprovementLink).where(
            ImprovementLink.improvement_id == month["record"]))
        statuses = dict(s.execute(select(Improvement.status, func.count()).group_by(Improvement.status)).all())
    assert r["complaints"]["received"] == received == 6  # the February complaint is not counted
    assert r["complaints"]["resolved"] == len(resolved_ids) == 4
    assert r["complaints"]["open_at_end"] == 1 + 1 + 1 + 0  # bounced, open, February's (still open)
    pareto = {c["root_cause"]: c["count"] for c in r["root_causes"]["causes"]}
    assert pareto == {"process_gap": causes["process_gap"] + causes["process_gap.handover"],
                      "policy_rule": causes["policy_rule"], "system": causes["system"]} == \
        {"process_gap": 2, "policy_rule": 1, "system": 1}
    first = r["root_causes"]["causes"][0]
    assert first["root_cause"] == "process_gap" and first["share"] == 0.5 and first["vital_few"]
    assert first["sub_codes"] == {"handover": 1}
    assert r["root_causes"]["causes"][-1]["cumulative_share"] == 1.0
    # bounced: exactly the ping-pong complaint, with its path
    assert [b["complaint"] for b in r["bounced"]] == [month["bounced"]]
    b = r["bounced"][0]
    assert b["path"] == [month["dep"], month["other"], month["dep"]] and b["ping_pong"] and b["transfers"] == 2
    # improvement records: ours is approved with its overdue action (recurrence may propose others)
    recs = r["improvement_records"]
    assert recs["by_status"] == statuses and statuses["approved"] == 1
    ours = next(x for x in recs["records"] if x["id"] == month["record"])
    assert ours["status"] == "approved" and ours["complaints"] == linked == 2
    assert ours["overdue_actions"] == 1 and recs["with_overdue_actions"] == 1


def test_department_sla_compliance(sessions, config, month):
    r = build_review(sessions, config, "2026-03", NOW)
    deps = r["departments"]
    total_completed = sum(d["completed"] for d in deps.values())
    with sessions() as s:
        done = s.scalar(select(func.count()).select_from(Transition).where(
            Transition.entity == "task", Transition.to_state == "done",
            Transition.at >= datetime.fromisoformat(r["period"]["start"]),
            Transition.at < datetime.fromisoformat(r["period"]["end"])))
    assert total_completed == done
    breached = sum(d["breached"] for d in deps.values())
    assert breached >= 1  # the complaint finished on 27 March is past every resolve target
    assert all(d["met"] + d["breached"] == d["completed"] for d in deps.values())
    overdue_ids = {t["complaint"] for d in deps.values() for t in d["overdue_tasks"] if t["complaint"]}
    assert {month["bounced"], month["open"]} <= overdue_ids
    assert sum(d["overdue_at_end"] for d in deps.values()) == sum(len(d["overdue_tasks"]) for d in deps.values())


def test_compensation_and_three_formats(sessions, config, month, tmp_path):
    from closeloop.services.work import compensation as comp
    from models.tables import Compensation

    cid = month["open"]
    with sessions() as s:
        c = s.get(Complaint, cid)
        cap = config.model.compensation.cap(c.category, c.severity)
    assert cap is not None, "the default policy caps billing compensation"
    at = T0 + timedelta(days=2)
    within = comp.add(sessions, cid, config=config, kind="refund", amount=str(cap), actor=ACTOR, at=at)
    above = comp.add(sessions, cid, config=config, kind="refund", amount=str(cap + 1), actor=ACTOR,
                     requester="token:1", at=at)
    assert (within.status, above.status) == ("approved", "pending_approval")  # exactly the cap is within it
    comp.add(sessions, month["bounced"], config=config, kind="refund", amount="5.25", actor=ACTOR,
             at=datetime(2026, 4, 2, 15, tzinfo=UTC))  # April: not in the March review
    r = build_review(sessions, config, "2026-03", NOW)
    with sessions() as s:
        cutoff = datetime(2026, 4, 1, 4, tzinfo=UTC)
        rows = s.scalars(select(Compensation).where(Compensation.created_at < cutoff)).all()
    approved = sum((x.amount for x in rows if x.status == "approved"), Decimal(0))
    cur = config.model.compensation.currency
    assert r["compensation"]["entries"] == len(rows) == 2
    assert r["compensation"]["pending_approval"] == 1 and r["compensation"]["above_cap"] == 1
    assert r["compensation"]["approved_total"] == {cur: str(approved.quantize(Decimal("0.01")))}
    assert Decimal(r["compensation"]["approved_total"][cur]) == cap
    comp.decide(sessions, above.id, approve=True, actor="manager", by="token:2", role="manager",
                at=at + timedelta(hours=1))
    r = build_review(sessions, config, "2026-03", NOW)
    assert Decimal(r["compensation"]["approved_total"][cur]) == 2 * cap + 1
    assert r["compensation"]["pending_approval"] == 0
    assert r == build_review(sessions, config, "2026-03", NOW + timedelta(days=30))
    md, html = render(r, "md"), render(r, "html")
    assert "# Complaint review 2026-03" in md
    row = re.search(r"^\| (\d+) \| (\d+) \| (\d+) \| (\d+) \|", md, re.M)
    assert [int(x) for x in row.groups()] == [r["complaints"]["received"], r["complaints"]["resolved"],
                                               r["complaints"]["reopened"], r["complaints"]["open_at_end"]]
    assert "| process gap | 2 | 50% | 50% | yes | handover 1 |" in md  # in words, as the HTML
    assert html.count("<svg") >= 3 and 'id="root-causes"' in html and "Fee refunds stall" in html
    # text columns read from the left, headers included (numbers from the right)
    assert '<th>id</th><th class="l">title</th><th class="l">status</th><th class="l">owner</th>' in html
    assert '<th class="l">vital few</th><th class="l">sub-codes</th>' in html and '<td class="l">yes</td>' in html
    assert json.loads(json.dumps(r)) == r  # JSON-able as it is


def test_bad_periods_are_named(sessions, config):
    with pytest.raises(InvalidInput) as e:
        build_review(sessions, config, "2026-3", NOW)
    assert e.value.field == "period"
    with pytest.raises(InvalidInput, match="not started"):
        build_review(sessions, config, "2026-05", NOW)
    with pytest.raises(InvalidInput) as e:
        render({}, "pdf")
    assert e.value.field == "format"


def test_markdown_review_shows_user_text_as_text_never_as_html(sessions, config, month):
    """Issue 18: an improvement title built from intake text cannot inject HTML or markup into the
    Markdown review (which is also the Prefect artifact)."""
    from markdown_it import MarkdownIt

    evil = '<img src=x onerror="alert(1)"> **bold** [link](http://evil.example) | cell `code` _em_'
    with sessions.begin() as s:
        s.get(Improvement, month["record"]).title = evil
    md = render(build_review(sessions, config, "2026-03", NOW), "md")
    html = MarkdownIt("commonmark").enable("table").render(md)
    assert "<img" not in html and "<strong>bold" not in html and "<a href" not in html and "<em>em" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; **bold** [link](http://evil.example) | cell `code` _em_" \
        in html  # the title, verbatim, as text inside its cell
    row = next(line for line in md.splitlines() if line.startswith(f"| {month['record']} |"))
    assert row.count(" | ") == 5  # the pipe in the title did not add a column


def test_customer_follow_up_tasks_are_kept_apart_from_department_work(sessions, config, month):
    """A customer follow-up (contacting the customer after resolution) is the customer-loop step, not
    department work: the review keeps its tasks out of the departments' SLA figures, as the replay's summary
    does (the NYC 311 demo's review counted its 140 follow-ups as `triage` work), and shows them apart."""
    from closeloop.services.engine.sweep import sweep

    sweep(sessions, config, datetime(2026, 3, 16, 15, tzinfo=UTC))  # follow-ups of the three resolved on 2 March
    with sessions() as s:
        follow = s.scalars(select(Task).where(Task.kind == "follow-up").order_by(Task.id)).all()
    queue = config.follow_up_department
    assert len(follow) == 3 and {t.department for t in follow} == {queue}
    at = datetime(2026, 3, 17, 15, tzinfo=UTC)
    lifecycle.record_follow_up(sessions, follow[0].id, config=config, satisfied=True, note="", actor=ACTOR, at=at)
    lifecycle.record_follow_up(sessions, follow[1].id, config=config, satisfied=False, note="", actor=ACTOR, at=at)
    r = build_review(sessions, config, "2026-03", NOW)
    start, end = datetime.fromisoformat(r["period"]["start"]), datetime.fromisoformat(r["period"]["end"])
    with sessions() as s:
        work_done = s.scalar(select(func.count()).select_from(Transition).join(Task, Task.id == Transition.entity_id)
                             .where(Transition.entity == "task", Transition.to_state == "done",
                                    Transition.at >= start, Transition.at < end, Task.kind != "follow-up"))
    assert sum(d["completed"] for d in r["departments"].values()) == work_done
    assert list(r["follow_up_tasks"]) == [queue]  # the follow-up department, with the follow-ups alone
    fu = r["follow_up_tasks"][queue]
    assert (fu["completed"], fu["met"], fu["compliance"], fu["open_at_end"], fu["overdue_at_end"]) == (2, 2, 1.0, 1, 1)
    assert [t["task"] for t in fu["overdue_tasks"]] == [follow[2].id]  # unanswered past its due instant at the end
    assert all(t["task"] != follow[2].id for d in r["departments"].values() for t in d["overdue_tasks"])
    assert r["complaints"]["follow_up"]["recorded"] == 2
    line = f"{queue} 2 done this month (2 within target), 1 open at the end, 1 overdue."
    assert line in render(r, "md") and line in render(r, "html")


# --- a past month's review is fixed at its end: April's work does not change March's figures (JSON, byte for byte)

APRIL = datetime(2026, 4, 10, 15, tzinfo=UTC)


def _march(sessions, config, now=NOW):
    return json.dumps(build_review(sessions, config, "2026-03", now), indent=2, ensure_ascii=False)


def test_a_past_months_root_causes_do_not_change_later(sessions, config, month):
    """A cause corrected in April, and one recorded in April for a complaint open at March's end that is then
    resolved, leave March's Pareto and its count of complaints without a cause as they were."""
    fast, open_ = month["ids"][0], month["open"]
    before = _march(sessions, config, APRIL)
    assert json.loads(before)["root_causes"]["received_without_root_cause"] >= 2
    lifecycle.set_root_cause(sessions, fast, config=config, root_cause="system", note=None, actor=ACTOR, at=APRIL)
    _finish(sessions, config, open_, APRIL, "third_party")
    lifecycle.set_root_cause(sessions, month["bounced"], config=config, root_cause="system", note=None, actor=ACTOR,
                             at=APRIL)
    assert _march(sessions, config, APRIL + timedelta(hours=1)) == before


def test_a_past_months_complaints_do_not_change_when_merged_or_reprioritized_later(sessions, config, month):
    """A complaint open at March's end merged in April is still counted without a cause, its severity in March
    stays; its tasks (moved to the survivor) stay March's open work of its own complaint."""
    open_, bounced = month["open"], month["bounced"]
    before = _march(sessions, config, APRIL)
    with sessions() as s:
        sev = s.get_one(Complaint, open_).severity
    lifecycle.reprioritize(sessions, open_, "P1" if sev != "P1" else "P4", config=config, reason="re-triaged",
                           actor=ACTOR, at=APRIL)
    from closeloop.services.work import complaints

    complaints.merge(sessions, open_, bounced, config=config, reason="same", actor=ACTOR, at=APRIL + timedelta(hours=1))
    assert _march(sessions, config, APRIL + timedelta(hours=2)) == before


def test_a_past_months_open_work_does_not_change_when_cancelled_or_transferred_later(sessions, config, month):
    """Tasks open at March's end, cancelled or transferred in April, are still March's open (and overdue) work."""
    open_, bounced = month["open"], month["bounced"]
    before = _march(sessions, config, APRIL)
    (tid, _, _), *_ = _tasks(sessions, open_)
    svc.cancel(sessions, tid, config=config, reason="not needed", actor=ACTOR, at=APRIL)
    (tid2, dep, _), *_ = _tasks(sessions, bounced)
    svc.transfer(sessions, tid2, config=config, to=next(d for d in ("operations", "service", "product") if d != dep),
                 reason="theirs", actor=ACTOR, at=APRIL)
    assert _march(sessions, config, APRIL + timedelta(hours=1)) == before


def test_a_past_months_promises_and_records_do_not_change_later(sessions, config, month):
    """A promise due in March cancelled in April, and an improvement record's cause changed in April, leave March's
    promise figures and record list as they were."""
    from closeloop.domain.promise import PromiseTrigger
    from closeloop.services.customers import promises
    from closeloop.services.transitions import apply
    from models.tables import Promise

    p = promises.make_promise(sessions, config, month["open"], department=month["dep"], kind="call_back",
                              actor=ACTOR, at=T0, due=T0 + timedelta(days=2))
    before = _march(sessions, config, APRIL)
    with sessions.begin() as s:
        apply(s, s.get_one(Promise, p.id), PromiseTrigger.CANCEL, at=APRIL, actor=ACTOR, reason="customer withdrew")
    imp.fire(sessions, month["record"], "start", config=config, actor=ACTOR, at=APRIL, root_cause="system")
    assert _march(sessions, config, APRIL + timedelta(hours=1)) == before


def test_a_month_without_improvement_records_says_so_instead_of_an_empty_table(sessions, config):
    r = build_review(sessions, config, "2026-03", NOW)
    assert r["improvement_records"]["records"] == []
    md, html = render(r, "md"), render(r, "html")
    assert "| id | title | status | owner |" not in md and 'id="improvements"' not in html
    assert r"No improvement records as of 2026-04-01 00:00 America/New\_York." not in md  # not over-escaped
    assert "No improvement records as of 2026-04-01 00:00 America/New_York." in md  # in the month's zone, as the HTML
    assert ('<p id="improvements-none">No improvement records as of 2026-04-01 00:00 America/New_York.</p>'
            in html)  # the month's end in its zone, as the period says (it was an ISO instant in UTC)


def test_the_html_review_reads_as_a_manager_would_read_it(sessions, config, month):
    """The period in the month's zone (it was two ISO instants in UTC), no compensation table without an approved
    entry (it was a table of headers alone), root causes in words, and the definitions last."""
    html = render(build_review(sessions, config, "2026-03", NOW), "html")
    assert ("<p>Period 2026-03-01 00:00 America/New_York to 2026-04-01 00:00 America/New_York (the month in that "
            "zone; 2026-03-01 05:00 UTC to 2026-04-01 04:00 UTC)") in html
    assert "T0" not in html.split("<svg", 1)[0]  # no ISO instant before the first chart
    assert 'id="compensation"' not in html and '<p id="no-compensation">Nothing approved this month.</p>' in html
    assert "<td>process gap</td>" in html and "process_gap" not in html
    assert html.index("<h2>Definitions</h2>") > html.index("<h2>Promises to customers")


def test_improvement_actions_are_kept_apart_from_complaint_work(sessions, config, month):
    """The NYC 311 replay's review counted improvement records' corrective/preventive action tasks among the
    departments' resolved tasks (NYPD 49) while the replay's report, which leaves them out, said 48: the review now
    counts complaint work alone in the departments' figures and shows the actions apart, as the replay does."""
    at = T0 + timedelta(days=1)
    action = imp.add_action(sessions, month["record"], config=config, kind="preventive", department="operations",
                            title="Document the refund hand-over", actor=ACTOR, at=at, business_days=3)
    svc.complete(sessions, action.id, config=config, actor=ACTOR, at=at + timedelta(hours=2), outcome="done")
    r = build_review(sessions, config, "2026-03", NOW)
    start, end = datetime.fromisoformat(r["period"]["start"]), datetime.fromisoformat(r["period"]["end"])
    with sessions() as s:
        complaint_work = s.scalar(select(func.count()).select_from(Transition).join(
            Task, Task.id == Transition.entity_id).where(
            Transition.entity == "task", Transition.to_state == "done", Transition.at >= start,
            Transition.at < end, Task.complaint_id.is_not(None), Task.kind != "follow-up"))
    assert sum(d["completed"] for d in r["departments"].values()) == complaint_work
    assert all(t["improvement"] is None for d in r["departments"].values() for t in d["overdue_tasks"])
    acts = r["improvement_actions"]
    assert list(acts) == ["operations"]
    ops = acts["operations"]
    assert (ops["completed"], ops["met"], ops["overdue_at_end"]) == (1, 1, 1)
    ours = next(x for x in r["improvement_records"]["records"] if x["id"] == month["record"])
    assert ours["overdue_actions"] == 1  # the overdue corrective action, still counted on its record
    line = "operations 1 done this month (1 within target), 1 open at the end, 1 overdue."
    assert line in render(r, "md") and line in render(r, "html")
