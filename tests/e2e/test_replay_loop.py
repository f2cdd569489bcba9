"""The replay closes the loop: proposed records are approved, acted on, implemented, and checked in simulated time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from closeloop.config import load_config
from closeloop.services.replay.replay import run_replay
from models.tables import Task, Transition

START = datetime(2026, 1, 5, 14, tzinfo=UTC)  # a Monday


def _feed(path: Path, weeks_after: int) -> Path:
    """8 billing complaints in two days (a cluster: the engine proposes a record), then one delivery
    complaint a week for ``weeks_after`` weeks (the data that follows; no billing complaint again)."""
    lines = ["external_ref,received_at,customer_ref,category,text"]
    for i in range(8):
        lines.append(f"B{i},{(START + timedelta(hours=5 * i)).isoformat()},b{i},billing,charged twice")
    for w in range(1, weeks_after + 1):
        lines.append(f"D{w},{(START + timedelta(weeks=w)).isoformat()},d{w},delivery,late parcel")
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def test_a_proposed_record_is_approved_implemented_and_judged_effective(tmp_path: Path):
    summary = run_replay([_feed(tmp_path / "f.csv", 15)], load_config(None), tmp_path / "r",
                         step=timedelta(hours=2), horizon=timedelta(weeks=2))
    imp = summary["improvement_records"]
    assert imp["by_status"] == {"effective": 1} and imp["effective"] == 1 and not summary["replay_errors"]
    check = imp["checks"][0]
    assert check["before_count"] == 8 and check["after_count"] == 0 and check["decision"] == "effective"
    assert check["data_covers_window"] and check["verdict"] == "effective"
    engine = create_engine(f"sqlite:///{tmp_path / 'r' / 'replay.db'}")
    with Session(engine) as s:
        steps = [(t.trigger, t.at) for t in s.scalars(select(Transition).where(Transition.entity == "improvement")
                                                     .order_by(Transition.at, Transition.id))]
        action = s.scalars(select(Task).where(Task.improvement_id.is_not(None))).one()
    engine.dispose()
    assert [t for t, _ in steps] == ["create", "approve", "start", "implement", "begin_verification",
                                     "confirm_effective"]
    approved, implemented = steps[1][1], steps[3][1]
    assert timedelta(days=2) <= approved - START <= timedelta(days=7)  # the model's approval delay
    assert action.status == "done" and action.kind == "corrective" and implemented > approved
    assert steps[5][1] - implemented >= timedelta(weeks=6)  # decided in simulated time, after the window


def test_data_that_ends_too_soon_says_not_enough_data(tmp_path: Path):
    summary = run_replay([_feed(tmp_path / "f.csv", 2)], load_config(None), tmp_path / "r",
                         step=timedelta(hours=2), horizon=timedelta(weeks=6))  # the demo's horizon
    imp = summary["improvement_records"]
    assert imp["checks"] and imp["effective"] == 0 and imp["not_enough_data"] == len(imp["checks"])
    check = imp["checks"][0]
    assert not check["data_covers_window"] and check["verdict"] == "not_enough_data"
    assert check["note"].startswith("not enough data: the export ends 2026-01-19")
    # a closeloop CSV names no cause: the report says "no mapping" instead of drawing a 100 % undetermined bar
    assert imp["unmapped_sources"] != [] and imp["mapped_complaints"] == 0
    from closeloop.services.replay.report import render_html

    html = render_html({"feed": summary})
    assert "No root-cause mapping for source" in html and "no mapping: no Pareto to draw" in html


def _recurring_feed(path: Path, weeks: int) -> list[datetime]:
    """8 billing complaints in two days (a cluster: the engine proposes a record), then one billing complaint
    every 12 hours for ``weeks`` weeks (the fix does not work), each from its own customer; the received
    instants of every row."""
    received = [START + timedelta(hours=5 * i) for i in range(8)]
    received += [START + timedelta(days=2, hours=12 * i) for i in range(1, 14 * weeks + 1)]
    lines = ["external_ref,received_at,customer_ref,category,text"]
    lines += [f"B{i},{at.isoformat()},b{i},billing,charged twice" for i, at in enumerate(received)]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return received


def test_an_ineffective_check_on_data_that_ends_early_is_counted_as_the_action_taken(tmp_path: Path):
    """The export ends inside the check's after-window, yet the complaints it holds after the fix are already
    too many for the reduction the rule asks: the engine decides "ineffective" and sends the record back to
    ``in_progress``. More data could only add complaints after the fix, so that decision stands, and the
    summary and the report count it as ineffective (they said "not enough data" while the record was reworked)."""
    received = _recurring_feed(tmp_path / "f.csv", 5)
    summary = run_replay([tmp_path / "f.csv"], load_config(None), tmp_path / "r",
                         step=timedelta(hours=2), horizon=timedelta(weeks=6))  # the demo's horizon
    engine = create_engine(f"sqlite:///{tmp_path / 'r' / 'replay.db'}")
    with Session(engine) as s:
        steps = [(t.trigger, t.at) for t in s.scalars(select(Transition).where(Transition.entity == "improvement")
                                                     .order_by(Transition.at, Transition.id))]
    engine.dispose()
    assert [t for t, _ in steps][-3:] == ["begin_verification", "confirm_ineffective", "rework"]
    implemented = next(at for t, at in steps if t == "implement")
    window = timedelta(weeks=load_config(None).model.improvement.effectiveness_weeks)
    assert received[-1] < implemented + window  # the export ends inside the after-window
    imp = summary["improvement_records"]
    [check] = imp["checks"]
    assert (check["before_count"], check["after_count"]) == (
        sum(1 for at in received if implemented - window <= at < implemented),
        sum(1 for at in received if implemented <= at < implemented + window))
    assert check["decision"] == "ineffective" and not check["data_covers_window"]
    assert check["verdict"] == "ineffective" and check["note"].startswith(
        f"the export ends {received[-1]:%Y-%m-%d}, before the after-window ends")
    # the figures agree with the action taken: one record back in progress, one ineffective decision
    assert imp["by_status"] == {"in_progress": 1} and not summary["replay_errors"]
    assert (imp["effective"], imp["ineffective"], imp["not_enough_data"]) == (0, 1, 0)
    from closeloop.services.replay.report import render_html

    html = render_html({"feed": summary})
    assert "0 effective, 1 ineffective,\n0 not enough data" in html
    assert "<td>ineffective</td>\n<td>ineffective <span" in html
